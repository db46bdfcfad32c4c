"""Pictures: the class legend, labelled tiles and the visualization hook's switches."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from segmenter3d.engine.hooks import VolumeVisualizationHook
from segmenter3d.structures import VolumeData, VolumeDataSample
from segmenter3d.taxonomy import PANOROOMS3D_CLASSES, PANOROOMS3D_PALETTE
from segmenter3d.visualization import label_tile, legend


def test_legend_has_one_swatch_per_class_in_its_colour():
    strip = legend(PANOROOMS3D_PALETTE, PANOROOMS3D_CLASSES, [0, 3, 17, 29, 99], 300)
    assert strip.shape == (2 * 16, 300, 3)  # 2 per row at 300 px, class 99 does not exist
    for n, cls in enumerate([0, 3, 17, 29]):
        y, x = (n // 2) * 16 + 8, (n % 2) * 150 + 10
        assert tuple(strip[y, x]) == tuple(PANOROOMS3D_PALETTE[cls])


def test_label_tile_writes_into_the_corner_only():
    tile = np.zeros((40, 80, 3), np.uint8)
    out = label_tile(tile, 'teacher')
    assert out[:18].any() and not out[20:].any() and not tile.any()


class _Visualizer:
    def __init__(self):
        self.images = []

    def add_image(self, name, image, step=0):
        self.images.append((name, step))


def _sample(room):
    s = VolumeDataSample(metainfo=dict(room_id=room))
    s.pred_sem_seg = VolumeData(data=torch.full((1, 6, 5, 4), 3))
    s.gt_sem_seg = VolumeData(data=torch.full((1, 6, 5, 4), 2))
    return s


def test_hook_draws_every_interval_and_writes_every_prediction(tmp_path):
    runner = SimpleNamespace(
        test_dataloader=SimpleNamespace(dataset=SimpleNamespace(
            metainfo=dict(palette=PANOROOMS3D_PALETTE))), visualizer=_Visualizer())
    hook = VolumeVisualizationHook(interval=2, show_dir=str(tmp_path / 'show'),
                                   out_dir=str(tmp_path / 'out'))
    for i in range(4):  # mmseg's rule: batches 1, 3, ... for interval 2
        hook.after_test_iter(runner, i, dict(inputs=[torch.zeros(4, 6, 5, 4)]),
                             [_sample(f'r{i}')])
    assert sorted(p.name for p in (tmp_path / 'show').iterdir()) == [
        'r1_slices.png', 'r3_slices.png']
    assert runner.visualizer.images == [('r1_slices', 1), ('r3_slices', 3)]
    import mmcv

    from segmenter3d.visualization import slice_figure
    drawn = mmcv.imread(str(tmp_path / 'show' / 'r1_slices.png'), channel_order='rgb')
    np.testing.assert_array_equal(drawn, slice_figure(
        np.zeros((4, 6, 5, 4), np.float32), np.full((6, 5, 4), 2), np.full((6, 5, 4), 3),
        PANOROOMS3D_PALETTE))  # no key: the dataset's metainfo here names no classes
    for i in range(4):
        labels = np.load(tmp_path / 'out' / f'r{i}_pred.npz')['labels']
        assert labels.shape == (6, 5, 4) and (labels == 3).all()
    off = VolumeVisualizationHook(draw=False, show_dir=str(tmp_path / 'off'))
    off.after_test_iter(runner, 0, dict(inputs=[torch.zeros(4, 6, 5, 4)]), [_sample('x')])
    assert not (tmp_path / 'off').exists()


def test_figures_carry_the_key_of_exactly_the_classes_drawn():
    from segmenter3d.visualization import slice_figure
    volume = np.zeros((4, 6, 5, 4), np.float32)
    volume[1] = (np.arange(4) - 1.5) / 2  # red differs per height z
    pred = np.full((6, 5, 4), 3, np.uint8)
    pred[-1] = 17
    gt = np.full((6, 5, 4), 255, np.uint8)
    gt[:, 0] = 2
    bare = slice_figure(volume, gt, pred, PANOROOMS3D_PALETTE)
    keyed = slice_figure(volume, gt, pred, PANOROOMS3D_PALETTE, class_names=PANOROOMS3D_CLASSES)
    assert np.array_equal(keyed[:bare.shape[0]], bare)
    key = keyed[bare.shape[0]:]
    want = legend(PANOROOMS3D_PALETTE, PANOROOMS3D_CLASSES, [2, 3, 17], bare.shape[1])
    assert np.array_equal(key, want)  # 2, 3 and 17 are drawn; 255 has no swatch
    # three bands (slices z = 1, 1, 2 of 4), each input | ground truth | prediction, a voxel
    # drawn as 4x4 pixels; below each caption, the last X row: its colour, then gt 2 at y = 0
    # (white where 255), then the prediction 17
    assert bare.shape == (3 * 24, 3 * 20, 3)
    palette = np.asarray(PANOROOMS3D_PALETTE, np.uint8)
    for band, z in enumerate((1, 1, 2)):
        row = bare[24 * band + 20:24 * band + 24]
        red = np.uint8((volume[1, 0, 0, z] + 1) * 127.5)
        assert (row[:, :20] == (red, 127, 127)).all()
        assert (row[:, 20:24] == palette[2]).all() and (row[:, 24:40] == 255).all()
        assert (row[:, 40:] == palette[17]).all()


def test_predictions_of_rooms_named_through_a_link_never_leave_the_output_folder(tmp_path):
    """A room named ``X/r`` where ``X`` is a symlink inside ``--out`` to another folder."""
    import os
    runner = SimpleNamespace(
        test_dataloader=SimpleNamespace(dataset=SimpleNamespace(
            metainfo=dict(palette=PANOROOMS3D_PALETTE))), visualizer=_Visualizer())
    victim = tmp_path / 'victim'
    victim.mkdir()
    (tmp_path / 'out').mkdir()
    os.symlink(victim, tmp_path / 'out' / 'X')
    hook = VolumeVisualizationHook(out_dir=str(tmp_path / 'out'))
    with pytest.raises(ValueError, match=r"out: room 'X/r_pred\.npz' leads outside it"):
        hook.after_test_iter(runner, 0, dict(inputs=[torch.zeros(4, 6, 5, 4)]),
                             [_sample('X/r')])
    assert list(victim.iterdir()) == []
    (tmp_path / 'out' / 'sub').mkdir()
    hook.after_test_iter(runner, 0, dict(inputs=[torch.zeros(4, 6, 5, 4)]), [_sample('sub/r')])
    assert (tmp_path / 'out' / 'sub' / 'r_pred.npz').exists()  # sub-folders stay allowed
