import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT
from scannet_fixture import COLOURS, write_scannet_scene
from segmenter3d.datasets import (
    ScanNetVolumeDataset,
    load_room,
    mesh_to_volume,
    read_label_map,
    read_scene,
    scannet_scene_to_volume,
)
from segmenter3d.datasets.scannet_io import read_mesh, read_vertex_labels, scene_files
from segmenter3d.evaluation import MeshPointIoUMetric
from segmenter3d.taxonomy import SCANNET20_CLASSES

sys.path.insert(0, osp.join(ROOT, 'tools', 'data'))
import scannet_to_volume  # noqa: E402

SCENE = 'scene0000_00'
VOXEL = 0.1  # the fixture's origin is then (-0.4, -0.4, -0.4): voxel i is at 0.1 * i - 0.4


@pytest.fixture(scope='module')
def scannet_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('scannet')
    info = write_scannet_scene(str(root))
    return str(root), info


@pytest.fixture(scope='module')
def converted(scannet_root):
    root, _ = scannet_root
    label_map = read_label_map(osp.join(root, 'scannetv2-labels.combined.tsv'))
    return scannet_scene_to_volume(osp.join(root, 'scans', SCENE), label_map, VOXEL)


def test_vertex_labels_follow_segments_aggregation_and_nyu40(scannet_root):
    root, info = scannet_root
    scene = read_scene(osp.join(root, 'scans', SCENE),
                       read_label_map(osp.join(root, 'scannetv2-labels.combined.tsv')))
    expected = {'wall': 0, 'floor': 1, 'table': 6, 'whiteboard': 255, 'bare': 255}
    for part, cls in expected.items():
        assert (scene['labels'][info['parts'] == part] == cls).all(), part
    np.testing.assert_allclose(scene['vertices'], info['vertices'], atol=1e-6)
    np.testing.assert_array_equal(scene['colors'], info['colors'])


def test_tsdf_is_the_signed_distance_to_the_mesh(converted):
    room, _ = converted
    tsdf, labels = room['tsdf'], room['labels']
    np.testing.assert_allclose(room['origin'], [-0.4] * 3, atol=1e-6)
    # above the floor at (0.8, 0.8): voxel k is at height 0.1 k - 0.4 -> tsdf k - 4
    np.testing.assert_allclose(tsdf[12, 12, 2:7], [-2, -1, 0, 1, 2], atol=0.15)
    assert tsdf[12, 12, 15] == 3 and labels[12, 12, 15] == 255  # free space, no label
    # the x = 0 wall, normal +x into the room
    np.testing.assert_allclose(tsdf[2:7, 12, 12], [-2, -1, 0, 1, 2], atol=0.15)
    # the table top at 0.7 m (voxel 11), normal up: inside the table is negative
    x, y = 22, 19  # (1.8, 1.5): 0.3 m from every side of the table
    np.testing.assert_allclose(tsdf[x, y, 9:14], [-2, -1, 0, 1, 2], atol=0.15)
    assert (labels[x, y, 9:14] == 6).all()
    assert (labels[12, 12, 3:6] == 1).all() and (labels[3:6, 12, 12] == 0).all()
    np.testing.assert_array_equal(room['rgb'][:, 12, 12, 4], COLOURS['floor'])
    # the camera looks from free space inside the room, 1.4 m above the floor
    cam = room['camera']
    world = cam * VOXEL - 0.4
    assert 0 < world[0] < 3 and 0 < world[1] < 2.5 and abs(world[2] - 1.4) < 1e-6
    assert tsdf[tuple(cam.astype(int))] == 3


def test_winding_is_fixed_by_the_floor(scannet_root, tmp_path, converted):
    write_scannet_scene(str(tmp_path), flip=True)
    label_map = read_label_map(osp.join(str(tmp_path), 'scannetv2-labels.combined.tsv'))
    flipped, _ = scannet_scene_to_volume(osp.join(str(tmp_path), 'scans', SCENE), label_map,
                                         VOXEL)
    np.testing.assert_array_equal(flipped['tsdf'], converted[0]['tsdf'])
    # without labels the winding is taken as it is: the sign flips
    info = write_scannet_scene(str(tmp_path / 'b'), flip=True)
    raw = mesh_to_volume(info['vertices'], info['faces'], info['colors'], None, VOXEL)
    np.testing.assert_allclose(raw['tsdf'][12, 12, 2:7], [2, 1, 0, -1, -2], atol=0.15)


def test_vertex_table_maps_every_vertex_to_its_voxel(scannet_root, converted):
    _, info = scannet_root
    room, vertices = converted
    voxel = vertices['voxel']
    centre = voxel * VOXEL + room['origin']
    assert np.abs(centre - info['vertices']).max() <= VOXEL / 2 + 1e-6
    # every vertex lies on the surface band
    assert (np.abs(room['tsdf'][tuple(voxel.T)]) < 1).all()


def _metric(scannet_out, pred_fn):
    dataset = ScanNetVolumeDataset(data_root=scannet_out, ann_file='splits/training.txt',
                                   pipeline=[dict(type='LoadVolume', num_classes=20),
                                             dict(type='PackVolumeInputs')])
    metric = MeshPointIoUMetric()
    metric.dataset_meta = dataset.metainfo
    for i in range(len(dataset)):
        item = dataset[i]
        sample = item['data_samples'].to_dict()
        gt = item['data_samples'].gt_sem_seg.data
        sample['pred_sem_seg'] = dict(data=pred_fn(gt))
        metric.process({}, [sample])
    return metric.compute_metrics(metric.results)


@pytest.mark.slow
def test_tool_converts_resumes_and_point_miou_follows_the_protocol(scannet_root, tmp_path):
    root, info = scannet_root
    for split in ('train', 'val'):
        with open(osp.join(root, f'scannetv2_{split}.txt'), 'w') as f:
            f.write(SCENE + '\n')
    out = str(tmp_path / 'out')
    args = [root, '--out', out, '--voxel-size', str(VOXEL)]
    assert scannet_to_volume.main(args) == 0
    assert open(osp.join(out, 'splits', 'training.txt')).read().split() == [SCENE]
    room = load_room(osp.join(out, 'volumes', f'{SCENE}.npz'), num_classes=20)
    assert room['labels'].max() == 255 and set(np.unique(room['labels'])) == {0, 1, 6, 255}
    stamp = osp.getmtime(osp.join(out, 'volumes', f'{SCENE}.npz'))
    assert scannet_to_volume.main(args) == 0  # second run skips the finished scene
    assert osp.getmtime(osp.join(out, 'volumes', f'{SCENE}.npz')) == stamp

    # the ground-truth volume as prediction (its ignored voxels as 'wall'): every vertex but
    # those on part borders is right
    perfect = _metric(out, lambda gt: torch.where(gt == 255, 0, gt))
    assert perfect['point_aAcc'] > 90 and perfect['point_mIoU'] > 85
    # a known answer: everything predicted 'wall'
    gt = np.load(osp.join(out, 'vertices', f'{SCENE}.npz'))['labels']
    valid = gt != 255
    wall_iou = (gt[valid] == 0).mean()  # floor and table: IoU 0; other classes absent: NaN
    walls = _metric(out, lambda gt: torch.zeros_like(gt))
    assert walls['point_mIoU'] == pytest.approx(100 * wall_iou / 3, abs=0.01)
    assert walls['point_aAcc'] == pytest.approx(100 * wall_iou, abs=0.01)
    assert walls['point_mAcc'] == pytest.approx(100 / 3, abs=0.01)

    # the ScanNet config trains on it and reports the point-level numbers next to the voxel ones
    work = str(tmp_path / 'work')
    options = ['--cfg-options'] + [f'{k}_dataloader.dataset.data_root={out}'
                                   for k in ('train', 'val')] + [
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.1.crop_size=32', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
        'model.test_cfg.crop_size=32', 'model.test_cfg.stride=24']
    proc = subprocess.run([sys.executable, 'tools/train.py', 'configs/3dseg/3dseg-l_scannet.py',
                           '--work-dir', work] + options, cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r'Iter\(val\).*mIoU.*point_mIoU: [\d.]+', proc.stdout + proc.stderr)
    assert osp.isfile(osp.join(work, 'iter_2.pth'))


def test_bad_scannet_inputs_are_named_errors(scannet_root, tmp_path, capsys):
    root, _ = scannet_root
    files = scene_files(osp.join(root, 'scans', SCENE))
    n = len(read_mesh(files['mesh'])[0])
    label_map = read_label_map(osp.join(root, 'scannetv2-labels.combined.tsv'))
    segs = tmp_path / 'short.segs.json'
    segs.write_text(json.dumps(dict(segIndices=[0] * (n - 1))))
    with pytest.raises(ValueError, match=r"short\.segs\.json.*'segIndices'.*vertices"):
        read_vertex_labels(str(segs), files['aggregation'], label_map, n)
    broken = tmp_path / 'broken.ply'
    broken.write_bytes(open(files['mesh'], 'rb').read()[:2000])
    with pytest.raises(ValueError, match=r'broken\.ply: cannot be read as PLY'):
        read_mesh(str(broken))
    bad_tsv = tmp_path / 'labels.tsv'
    bad_tsv.write_text('id\tcategory\n1\twall\n')
    with pytest.raises(ValueError, match=r"labels\.tsv: column 'raw_category' missing"):
        read_label_map(str(bad_tsv))
    agg = tmp_path / 'agg.json'
    agg.write_text('{"segGroups": [')
    with pytest.raises(ValueError, match=r'agg\.json: not valid JSON'):
        read_vertex_labels(files['segs'], str(agg), label_map, n)
    # valid JSON of the wrong types: named, not a TypeError from deep inside
    segs.write_text('5')
    with pytest.raises(ValueError, match=r'short\.segs\.json: expected a JSON object, got int'):
        read_vertex_labels(str(segs), files['aggregation'], label_map, n)
    for values in (['a'] * n, [1.7] * n, [True] * n):  # floats and booleans are not ids
        segs.write_text(json.dumps(dict(segIndices=values)))
        with pytest.raises(ValueError, match=r"'segIndices' must be a list of integers"):
            read_vertex_labels(str(segs), files['aggregation'], label_map, n)
    for groups, message in (
            ('{"segGroups": 3}', r"field 'segGroups' must be a list"),
            ('{"segGroups": [{"segments": [0], "label": ["wall"]}]}',
             r"segGroups\[0\]\['label'\] must be a string"),
            ('{"segGroups": [{"segments": "abc", "label": "wall"}]}',
             r"field segGroups\[0\]\['segments'\] must be a list of integers"),
            ('{"segGroups": [7]}', r"segGroups\[0\] lacks 'segments' or 'label'")):
        agg.write_text(groups)
        with pytest.raises(ValueError, match=r'agg\.json: ' + message):
            read_vertex_labels(files['segs'], str(agg), label_map, n)
    # a split list that is not UTF-8 text is named before any scene is converted
    val_list = osp.join(root, 'scannetv2_val.txt')
    kept = open(val_list, 'rb').read() if osp.isfile(val_list) else None
    with open(val_list, 'wb') as f:
        f.write(b'scene\xff\n')
    try:
        assert scannet_to_volume.main([root, '--out', str(tmp_path / 'o')]) == 1
    finally:  # the module's scene folder is shared: leave it as it was
        os.remove(val_list)
        if kept is not None:
            with open(val_list, 'wb') as f:
                f.write(kept)
    assert 'scannetv2_val.txt: split file is not UTF-8 text' in capsys.readouterr().err
    assert not (tmp_path / 'o').exists()
    # the tool reports a missing label table and writes nothing
    assert scannet_to_volume.main([str(tmp_path), '--out', str(tmp_path / 'o')]) == 1
    assert 'scannetv2-labels.combined.tsv: ScanNet label table not found' in capsys.readouterr().err
    assert not (tmp_path / 'o').exists()


def test_a_bad_scene_is_named_and_the_others_are_converted(tmp_path, capsys):
    """One damaged scene among many: the others are written, the bad one is named and left
    out of the split list, the exit code is 1, and a rerun converts only what is missing."""
    root = str(tmp_path / 'scannet')
    good, bad = SCENE, 'scene0001_00'
    write_scannet_scene(root, good)
    write_scannet_scene(root, bad)  # the same room: once repaired, the same volume
    with open(osp.join(root, 'scannetv2_train.txt'), 'w') as f:
        f.write(f'{good}\n{bad}\n')
    mesh = scene_files(osp.join(root, 'scans', bad))['mesh']
    intact = open(mesh, 'rb').read()
    with open(mesh, 'wb') as f:
        f.write(intact[:2000])
    out = str(tmp_path / 'out')
    args = [root, '--out', out, '--voxel-size', str(VOXEL)]
    assert scannet_to_volume.main(args) == 1
    err = capsys.readouterr().err
    assert '1 of 2 scenes could not be converted' in err
    assert f'error: {bad}: {mesh}: cannot be read as PLY' in err, err
    assert sorted(os.listdir(osp.join(out, 'volumes'))) == [f'{good}.npz']
    assert open(osp.join(out, 'splits', 'training.txt')).read().split() == [good]
    stamp = osp.getmtime(osp.join(out, 'volumes', f'{good}.npz'))
    with open(mesh, 'wb') as f:  # repaired, and retried alone: the lists keep the good scene
        f.write(intact)
    assert scannet_to_volume.main(args + ['--scenes', bad]) == 0
    assert open(osp.join(out, 'splits', 'training.txt')).read().split() == [good, bad]
    assert osp.getmtime(osp.join(out, 'volumes', f'{good}.npz')) == stamp
    repaired = load_room(osp.join(out, 'volumes', f'{bad}.npz'), num_classes=20)
    first = load_room(osp.join(out, 'volumes', f'{good}.npz'), num_classes=20)
    for key in ('tsdf', 'labels', 'origin'):
        np.testing.assert_array_equal(repaired[key], first[key], err_msg=key)

    # redone at another voxel size, the bad scene failing: its old volume (0.1 m) is never
    # taken for a conversion at 0.2 m, in this run or the next
    with open(mesh, 'wb') as f:
        f.write(intact[:2000])
    coarse = [root, '--out', out, '--voxel-size', '0.2']
    assert scannet_to_volume.main(coarse + ['--overwrite']) == 1
    assert f'error: {bad}: {mesh}: cannot be read as PLY' in capsys.readouterr().err
    assert open(osp.join(out, 'splits', 'training.txt')).read().split() == [good]
    assert scannet_to_volume.main(coarse) == 1
    err = capsys.readouterr().err
    assert f'{bad}.npz: converted before at 0.1 m voxels, --voxel-size is 0.2' in err, err
    assert open(osp.join(out, 'splits', 'training.txt')).read().split() == [good]
    assert load_room(osp.join(out, 'volumes', f'{good}.npz'), num_classes=20)['voxel_size'] \
        == pytest.approx(0.2)


def test_scannet_taxonomy_is_the_benchmark_one():
    assert len(SCANNET20_CLASSES) == 20
    assert SCANNET20_CLASSES[0] == 'wall' and SCANNET20_CLASSES[-1] == 'otherfurniture'
    assert ScanNetVolumeDataset.METAINFO['classes'] == SCANNET20_CLASSES
