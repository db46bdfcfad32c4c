"""The student's labels rendered into the panoramas, scored on the panoramas' ground truth."""
import os.path as osp

import mmcv
import numpy as np
import pytest

from segmenter3d.datasets import load_room
from studies.panorama_metric import rendered_panorama_miou


def _write_predictions(rooms, out, make):
    names = open(osp.join(rooms, 'splits', 'test.txt')).read().split()
    for name in names:
        labels = load_room(osp.join(rooms, 'volumes', f'{name}.npz'))['labels']
        np.savez(osp.join(out, f'{name}_pred.npz'), labels=make(labels))
    return names


def test_the_true_labels_render_to_the_panorama_ground_truth(tiny_rooms, tmp_path):
    _write_predictions(tiny_rooms, tmp_path, lambda labels: labels)
    perfect = rendered_panorama_miou(str(tmp_path), tiny_rooms, 'test')
    # the generator rendered the annotations from the same labels with the same rays (the
    # stored float16 TSDF may move a ray's hit across a voxel border at a few pixels)
    assert perfect['rooms'] == 1 and perfect['aAcc'] > 98 and perfect['mIoU'] > 90


def test_a_constant_prediction_scores_the_share_of_its_class(tiny_rooms, tmp_path):
    names = _write_predictions(tiny_rooms, tmp_path, lambda labels: np.full_like(labels, 17))
    gt = mmcv.imread(osp.join(tiny_rooms, 'annotations', 'test', f'{names[0]}.png'),
                     flag='unchanged')
    valid = gt != 255
    share = 100 * (gt[valid] == 17).mean()
    got = rendered_panorama_miou(str(tmp_path), tiny_rooms, 'test')
    # one class predicted everywhere: accuracy is that class's share; its IoU equals it too,
    # and every other class present has IoU 0
    assert got['aAcc'] == pytest.approx(share, abs=2)
    present = len(set(np.unique(gt[valid]).tolist()) | {17})
    assert got['mIoU'] == pytest.approx(share / present, abs=0.5)
    # exactly: class 17's IoU is the accuracy, shared among the classes present
    assert got['mIoU'] * present == pytest.approx(got['aAcc'], abs=0.01 * present)


def test_missing_or_misshapen_predictions_are_named(tiny_rooms, tmp_path):
    with pytest.raises(FileNotFoundError, match=r'_pred\.npz: not found'):
        rendered_panorama_miou(str(tmp_path), tiny_rooms, 'test')
    _write_predictions(tiny_rooms, tmp_path, lambda labels: labels[:-1])
    with pytest.raises(ValueError, match=r'_pred\.npz: labels have shape'):
        rendered_panorama_miou(str(tmp_path), tiny_rooms, 'test')
