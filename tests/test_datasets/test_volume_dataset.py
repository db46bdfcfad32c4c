import numpy as np
import pytest

from segmenter3d.datasets import VolumeDataset, load_room, room_to_input
from segmenter3d.datasets.transforms import PadVolume, RandomFlipRotateZ, RandomVolumeCrop
from segmenter3d.datasets.volume_dataset import read_split_file
from segmenter3d.encoding import EMPTY_INPUT, IGNORE_INDEX
from segmenter3d.synthrooms import generate_room, save_room_volume
from segmenter3d.taxonomy import PANOROOMS3D_RAW_TO_CLASS


def _ours(path, **over):
    rng = np.random.default_rng(0)
    tsdf = rng.uniform(-3, 3, (6, 7, 8)).astype(np.float32)
    data = dict(tsdf=tsdf, rgb=rng.integers(0, 256, (3, 6, 7, 8)).astype(np.uint8),
                labels=rng.integers(0, 30, (6, 7, 8)).astype(np.uint8))
    data.update(over)
    data = {k: v for k, v in data.items() if v is not None}
    np.savez(path, **data)
    return data


def test_release_format_round_trip(tmp_path):
    """A room written in the release encoding reads back as the room it encodes."""
    room = generate_room(2, voxel_size=0.12)
    class_to_raw = {}
    for raw, cls in sorted(PANOROOMS3D_RAW_TO_CLASS.items()):
        class_to_raw.setdefault(cls, raw)
    raw = np.vectorize(lambda c: class_to_raw.get(int(c), 0))(room.labels)
    r, g, b = (room.rgb[i].astype(np.int64) for i in range(3))
    path = tmp_path / 'release.npz'
    np.savez(path, sdf128=room.tsdf / 3.0, color128=b * 65536 + g * 256 + r, semanticlabel=raw)
    got = load_room(str(path))
    assert got['format'] == 'release'
    np.testing.assert_allclose(got['tsdf'], room.tsdf, atol=1e-6)
    np.testing.assert_array_equal(got['labels'], room.labels)
    np.testing.assert_array_equal(got['rgb'], room.rgb)


def test_our_format_round_trip(tmp_path):
    room = generate_room(5, voxel_size=0.12)
    save_room_volume(room, str(tmp_path / 'r.npz'))
    got = load_room(str(tmp_path / 'r.npz'))
    np.testing.assert_array_equal(got['labels'], room.labels)
    np.testing.assert_allclose(got['tsdf'], room.tsdf, atol=2e-3)  # stored as float16
    np.testing.assert_allclose(got['camera'], room.camera)
    inp = room_to_input(got)
    assert inp.shape == (4, ) + room.tsdf.shape
    # the official encoding: free space -3, its colour -1; observed voxels keep theirs
    assert (inp[0, room.tsdf >= 3] == -3).all() and (inp[1:, room.tsdf >= 3] == -1).all()
    assert inp[1:].min() >= -1 and inp[1:].max() <= 1
    np.testing.assert_allclose(inp[0], -np.clip(got['tsdf'], -3, 3))


@pytest.mark.parametrize('over,error,match', [
    (dict(rgb=None), ValueError, "missing keys"),  # labels may be missing, colour not
    (dict(rgb=np.zeros((3, 6, 7, 9), np.uint8)), ValueError, "field 'rgb' has shape"),
    (dict(labels=np.zeros((6, 7), np.uint8)), ValueError, "field 'labels' has shape"),
    (dict(tsdf=np.full((6, 7, 8), np.nan, np.float32)), ValueError, 'NaN or Inf'),
    (dict(labels=np.full((6, 7, 8), 31, np.uint8)), ValueError, 'out of range'),
    (dict(labels=np.full((6, 7, 8), 3.7, np.float32)), ValueError, 'non-integer ids'),
    (dict(tsdf=np.full((6, 7, 8), 3.0, np.float32)), ValueError, 'empty room'),
    (dict(rgb=np.full((3, 6, 7, 8), 0.4, np.float32)), ValueError, 'floats in 0..1'),
    (dict(rgb=np.full((3, 6, 7, 8), np.nan, np.float32)), ValueError, "'rgb' contains NaN"),
    (dict(rgb=np.full((3, 6, 7, 8), 300.0, np.float32)), ValueError, "'rgb' must be in 0..255"),
    (dict(camera=np.zeros(2, np.float32)), ValueError, r"'camera' must have shape \(3,\)"),
    (dict(camera=np.array(['a', 'b', 'c'])), ValueError, "'camera' has dtype <U1; rooms hold "
                                                         'real numbers'),
    (dict(camera=np.array([1., np.nan, 2.])), ValueError, "'camera' contains NaN"),
    (dict(voxel_size=np.array([0.04, 0.04])), ValueError, "'voxel_size' must have shape"),
    (dict(voxel_size=np.float32(0)), ValueError, "'voxel_size' must be positive"),
])
def test_bad_room_files_raise_named_errors(tmp_path, over, error, match):
    path = tmp_path / 'bad.npz'
    _ours(path, **over)
    with pytest.raises(error, match=match) as info:
        load_room(str(path))
    assert str(path) in str(info.value)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.npz'):
        load_room(str(tmp_path / 'nope.npz'))
    good = tmp_path / 'good.npz'
    _ours(good)
    (tmp_path / 'cut.npz').write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match='cut.npz.*corrupt or truncated'):
        load_room(str(tmp_path / 'cut.npz'))


def test_dataset_and_pipeline(tmp_path):
    for i in range(2):
        save_room_volume(generate_room(i, voxel_size=0.12), str(tmp_path / 'volumes' /
                                                                f'room_{i}.npz'))
    (tmp_path / 'split.txt').write_text('room_0\nroom_1\n')
    ds = VolumeDataset(ann_file='split.txt', data_root=str(tmp_path), pipeline=[
        dict(type='LoadVolume'), dict(type='RandomVolumeCrop', crop_size=(16, 16, 80)),
        dict(type='RandomFlipRotateZ'), dict(type='PackVolumeInputs')])
    assert len(ds) == 2 and ds.metainfo['classes'][17] == 'walls'
    item = ds[0]
    assert item['inputs'].shape == (4, 16, 16, 80)  # Z padded past the room height
    assert item['data_samples'].gt_sem_seg.data.shape == (1, 16, 16, 80)
    assert (item['data_samples'].gt_sem_seg.data[0, :, :, -1] == 255).all()
    assert (item['inputs'][0, :, :, -1] == -3).all() and (item['inputs'][1:, :, :, -1] == -1).all()
    (tmp_path / 'bad_split.txt').write_text('room_0\nroom_9\n')
    with pytest.raises(FileNotFoundError, match='room_9.npz'):
        VolumeDataset(ann_file='bad_split.txt', data_root=str(tmp_path))


def test_crop_prefers_surface_and_flip_rotate_keeps_pairs():
    np.random.seed(0)
    vol = np.zeros((4, 24, 24, 10), np.float32)
    vol[0] = 3.0
    vol[0, 16:20, 16:20, :] = 0.0  # the only surface
    labels = np.zeros((24, 24, 10), np.uint8)
    labels[16:20, 16:20] = 5
    # A crop holds the whole column only from starts 8..12 on X and Y (25 of 169 positions);
    # one random try rarely finds it, twenty tries that keep the most surface nearly always do.
    one = [(np.abs(RandomVolumeCrop(12, tries=1).transform(dict(volume=vol, gt_seg=labels))
                   ['volume'][0]) < 1).sum() for _ in range(40)]
    out = RandomVolumeCrop(12, tries=20).transform(dict(volume=vol, gt_seg=labels))
    assert (np.abs(out['volume'][0]) < 1).sum() == 4 * 4 * 10 > np.mean(one)
    assert out['volume'].shape == (4, 12, 12, 12)  # Z padded with empty space
    res = RandomFlipRotateZ().transform(dict(volume=out['volume'], gt_seg=out['gt_seg']))
    assert ((res['volume'][0] == 0) == (res['gt_seg'] == 5)).all()
    padded = PadVolume(size_divisor=16).transform(dict(volume=vol, gt_seg=labels))
    assert padded['volume'].shape == (4, 32, 32, 16)
    # the room stays at the origin; the rest is empty space, ignored by the loss
    padded = PadVolume(size=(20, 30, 12)).transform(dict(volume=vol, gt_seg=labels))
    assert padded['volume'].shape == (4, 24, 30, 12) and padded['gt_seg'].shape == (24, 30, 12)
    np.testing.assert_array_equal(padded['volume'][:, :24, :24, :10], vol)
    np.testing.assert_array_equal(padded['gt_seg'][:24, :24, :10], labels)
    room = np.zeros((24, 30, 12), bool)
    room[:24, :24, :10] = True
    for c, value in enumerate(EMPTY_INPUT):
        assert (padded['volume'][c][~room] == value).all()
    assert (padded['gt_seg'][~room] == IGNORE_INDEX).all()


@pytest.mark.parametrize('field,value,match', [
    ('semanticlabel', np.full((6, 7, 8), 120, np.int64), "'semanticlabel' has raw ids outside"),
    ('color128', np.zeros((6, 7), np.int64), "field 'color128' has shape"),
    ('sdf128', np.full((6, 7, 8), np.inf, np.float32), "'sdf128' contains NaN or Inf"),
    ('semanticlabel', np.full((6, 7, 8), np.nan), "'semanticlabel' contains NaN"),
    ('semanticlabel', np.full((6, 7, 8), 3.7), "'semanticlabel' holds non-integer ids"),
])
def test_bad_release_files_raise_named_errors(tmp_path, field, value, match):
    data = dict(sdf128=np.linspace(-1, 1, 336).reshape(6, 7, 8).astype(np.float32),
                color128=np.zeros((6, 7, 8), np.int64),
                semanticlabel=np.zeros((6, 7, 8), np.int64))
    data[field] = value
    np.savez(tmp_path / 'rel.npz', **data)
    with pytest.raises(ValueError, match=match) as info:
        load_room(str(tmp_path / 'rel.npz'))
    assert 'rel.npz' in str(info.value)


def test_missing_or_empty_split_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nosplit\.txt: split file not found'):
        VolumeDataset(ann_file='nosplit.txt', data_root=str(tmp_path))
    (tmp_path / 'empty.txt').write_text('\n\n')
    with pytest.raises(ValueError, match=r'empty\.txt: split file lists no rooms'):
        VolumeDataset(ann_file='empty.txt', data_root=str(tmp_path))
    assert read_split_file(str(tmp_path / 'empty.txt'), allow_empty=True) == []  # converters
    (tmp_path / 'folder.txt').mkdir()  # a split file that cannot be read: named, no trace
    with pytest.raises(ValueError, match=r'folder\.txt: split file cannot be read'):
        read_split_file(str(tmp_path / 'folder.txt'))


def test_float_colours_in_0_255_are_rounded_not_truncated(tmp_path):
    rgb = np.full((3, 6, 7, 8), 200.6, np.float32)
    _ours(tmp_path / 'f.npz', rgb=rgb)
    assert (load_room(str(tmp_path / 'f.npz'))['rgb'] == 201).all()


def test_split_file_names_stay_inside_the_data_root(tmp_path):
    (tmp_path / 'volumes').mkdir()
    _ours(tmp_path / 'volumes' / 'a.npz')
    for bad in ('../../outside/room_x', '/tmp/room_y', 'sub/../../z'):
        (tmp_path / 'split.txt').write_text(f'a\n{bad}\n')
        with pytest.raises(ValueError, match=r'split\.txt: line 2: room name .* without "\.\."'):
            VolumeDataset(ann_file='split.txt', data_root=str(tmp_path))
    (tmp_path / 'split.txt').write_text('a\n')
    assert len(VolumeDataset(ann_file='split.txt', data_root=str(tmp_path))) == 1


def test_unread_keys_are_never_decompressed(tmp_path):
    """load_room reads only the arrays it uses: a huge unused array costs nothing."""
    import tracemalloc
    data = _ours(tmp_path / 'r.npz')
    np.savez_compressed(tmp_path / 'big.npz', junk=np.zeros(50_000_000, np.uint8), **data)
    assert (tmp_path / 'big.npz').stat().st_size < 2_000_000
    tracemalloc.start()
    load_room(str(tmp_path / 'big.npz'))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5_000_000  # the 50 MB array was never read


def test_flips_rotations_and_crops_move_the_cameras_with_the_room():
    """A marker voxel at each camera lands where the transforms put the cameras; the room is
    marked as moved, and a distiller refuses it (its panorama did not move with it)."""
    import torch

    from segmenter3d.datasets.transforms import PackVolumeInputs
    from segmenter3d.models.segmentors import PanoDistiller
    shape = (9, 6, 5)  # X != Y: a quarter turn swaps them
    cameras = np.array([[1, 4, 2], [7, 0, 3], [3, 2, 4]], np.float32)
    moved_any = 0
    for seed in range(16):
        np.random.seed(seed)
        vol = np.zeros((4, ) + shape, np.float32)
        labels = np.zeros(shape, np.uint8)
        for n, (x, y, z) in enumerate(cameras.astype(int)):
            labels[x, y, z] = n + 1
        res = dict(volume=vol, gt_seg=labels, camera=cameras[0].copy(), cameras=cameras.copy())
        res = RandomFlipRotateZ().transform(res)
        res = RandomVolumeCrop((7, 7, 5), tries=1).transform(res)
        for n, camera in enumerate(res['cameras']):
            found = np.argwhere(res['gt_seg'] == n + 1)
            if len(found):  # the crop may leave a camera out: then it lies outside the block
                assert (found[0] == camera).all(), (seed, n)
            else:
                assert ((camera < 0) | (camera >= res['gt_seg'].shape)).any()
        np.testing.assert_array_equal(res['camera'], res['cameras'][0])
        moved_any += int((res['cameras'] != cameras).any())
        assert res['moved_by'] == ('RandomFlipRotateZ', 'RandomVolumeCrop')
    assert moved_any >= 12
    packed = PackVolumeInputs().transform(dict(res, room_id='r', panorama=np.zeros((4, 8, 3),
                                                                                    np.uint8)))
    with pytest.raises(ValueError, match='r went through RandomFlipRotateZ, RandomVolumeCrop'):
        PanoDistiller.views(packed['data_samples'], torch.Size(res['gt_seg'].shape))


def test_a_camera_outside_the_room_is_refused(tmp_path):
    """Voxel coordinates 0..size-1 on every axis, edges included; a room one voxel thick has
    its camera on that voxel."""
    path = tmp_path / 'room.npz'
    for camera in ([-0.5, 3, 3], [2, 3, 7.5], [6, 3, 3]):
        _ours(path, camera=np.array(camera, np.float32))
        with pytest.raises(ValueError, match=r"room.npz: field 'camera' .* lies outside the room "
                           r'\(voxel coordinates 0..\[5, 6, 7\]\)'):
            load_room(str(path))
    for camera in ([0, 0, 0], [5, 6, 7], [2.5, 3, 3.5]):
        _ours(path, camera=np.array(camera, np.float32))
        np.testing.assert_array_equal(load_room(str(path))['camera'], camera)
