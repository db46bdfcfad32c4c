"""Hostile rooms, split files and images: sizes are checked before anything
is decompressed or decoded, physical fields are range-checked, split files are named."""
import resource
import time
import tracemalloc
from contextlib import contextmanager

import numpy as np
import pytest

import hostile_files as hostile
from segmenter3d.datasets import VolumeDataset, load_room
from segmenter3d.datasets.room_io import MAX_VOXELS, room_shape
from segmenter3d.datasets.transforms import LoadPanorama, LoadVolume


def _room(path, shape=(6, 7, 8), **over):
    rng = np.random.default_rng(0)
    data = dict(tsdf=rng.uniform(-3, 3, shape).astype(np.float32),
                rgb=rng.integers(0, 256, (3, ) + shape).astype(np.uint8),
                labels=rng.integers(0, 30, shape).astype(np.uint8))
    data.update(over)
    np.savez(path, **data)
    return str(path)


@contextmanager
def _traced():
    """Peak bytes Python allocated inside the block: ``peak[0]`` once it ends."""
    peak = [None]
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@pytest.fixture(scope='module')
def zip_bomb(tmp_path_factory):
    """2.3 MB on disk, 2.4 GB of float32 zeros (604 M voxels) once decompressed."""
    return hostile.zip_bomb_room(tmp_path_factory.mktemp('bomb') / 'bomb.npz',
                                 (1024, 1024, 576))


def test_a_zip_bomb_room_is_refused_in_under_a_second_and_200_mb(zip_bomb):
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB, the peak so far
    start = time.perf_counter()
    with _traced() as traced, pytest.raises(
            ValueError, match=r"bomb\.npz: field 'tsdf' declares shape \(1024, 1024, 576\): "
                              r'603,979,776 voxels, beyond the limit of 600,000,000 \(refused '
                              r'before decompressing'):
        load_room(zip_bomb)
    seconds = time.perf_counter() - start
    peak = traced[0]
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert seconds < 1.0 and peak < 200 * 2**20, (seconds, peak)
    assert rss_growth * 1024 < 200 * 2**20  # the process peak did not grow by 200 MB either
    assert MAX_VOXELS == 600_000_000
    # the data pipeline of train.py and test.py refuses it the same way
    with pytest.raises(ValueError, match=r"bomb\.npz: field 'tsdf' declares shape"):
        LoadVolume().transform(dict(volume_path=zip_bomb))


def test_the_voxel_cap_can_be_raised_and_counts_a_room_not_its_colours(tmp_path):
    path = _room(tmp_path / 'r.npz', (10, 10, 10))
    with pytest.raises(ValueError, match=r"field 'tsdf' declares shape \(10, 10, 10\): 1,000 "
                                         r'voxels, beyond the limit of 999'):
        load_room(path, max_voxels=999)
    assert load_room(path, max_voxels=1000)['tsdf'].shape == (10, 10, 10)  # rgb: 3000 values
    assert room_shape(path) == (10, 10, 10)


def test_an_optional_field_declaring_many_values_is_refused_unread(tmp_path):
    path = _room(tmp_path / 'r.npz', camera=np.zeros(10_000_000, np.float32))
    with _traced() as peak, pytest.raises(
            ValueError, match=r"field 'camera' has shape \(10000000,\), expected at most 3"):
        load_room(path)
    assert peak[0] < 5_000_000


def test_a_npy_named_npz_is_a_named_error(tmp_path):
    np.save(tmp_path / 'room.npy', np.zeros((4, 4, 4), np.float32))
    (tmp_path / 'room.npy').rename(tmp_path / 'room.npz')
    with pytest.raises(ValueError, match=r'room\.npz: cannot be read as \.npz: not a zip archive '
                                         r'\(.*a \.npy file named \.npz\?\)'):
        load_room(str(tmp_path / 'room.npz'))


@pytest.mark.parametrize('over,match', [
    (dict(rgb=np.full((3, 6, 7, 8), 7 + 1j, np.complex64)), r"'rgb' has dtype complex64"),
    (dict(tsdf=np.ones((6, 7, 8), np.complex128)), r"'tsdf' has dtype complex128"),
    (dict(voxel_size=np.complex64(0.04)), r"'voxel_size' has dtype complex64"),
    (dict(voxel_size=np.float32(1e38)), r"'voxel_size' is 1e\+38 m; .* between 1 mm and 1 m"),
    (dict(voxel_size=np.float32(1e-45)), r"'voxel_size' is 1\.4013e-45 m"),
    (dict(voxel_size=np.float32(2.0)), r"'voxel_size' is 2 m"),
    (dict(camera=np.array([1e30, 3, 3], np.float32)),
     r"'camera' \[1\.0+\d*e\+30, 3\.0, 3\.0\] lies outside the room"),
    (dict(camera=np.array([3, 3, -1], np.float32)), r"'camera' .* lies outside the room"),
    (dict(origin=np.array([0, 0, 1e30], np.float32)), r"'origin' .* more than 100000 m"),
])
def test_physical_fields_out_of_range_are_refused(tmp_path, over, match):
    path = _room(tmp_path / 'bad.npz', **over)
    with pytest.raises(ValueError, match=r'bad\.npz: field ' + match):
        load_room(path)


def test_physical_fields_in_range_load(tmp_path):
    path = _room(tmp_path / 'ok.npz', voxel_size=np.float32(0.001),
                 camera=np.array([0, 6, 7], np.float32), origin=np.array([-5, 2, 0.5]))
    room = load_room(path)
    assert room['voxel_size'] == np.float32(0.001) and room['camera'].tolist() == [0, 6, 7]


def _split(tmp_path, content: bytes):
    (tmp_path / 'volumes').mkdir(exist_ok=True)
    for name in ('a', 'b'):
        _room(tmp_path / 'volumes' / f'{name}.npz')
    (tmp_path / 'split.txt').write_bytes(content)
    return VolumeDataset(ann_file='split.txt', data_root=str(tmp_path))


def test_split_files_bom_bad_bytes_and_duplicates(tmp_path):
    dataset = _split(tmp_path, b'\xef\xbb\xbfa\nb\n')  # a BOM: stripped, 'a' is found
    assert [dataset.get_data_info(i)['room_id'] for i in range(len(dataset))] == ['a', 'b']
    with pytest.raises(ValueError, match=r'split\.txt: split file is not UTF-8 text \(invalid '
                                         r'start byte at byte 2\)'):
        _split(tmp_path, b'a\n\xff\xfe\n')
    with pytest.raises(ValueError, match=r"split\.txt: line 3: room 'a' is listed again \(first "
                                         r'on line 1\); each room counts once'):
        _split(tmp_path, b'a\nb\na\n')


def test_a_huge_png_is_refused_before_decoding(tmp_path):
    path = hostile.huge_png(tmp_path / 'pano.png')
    assert (tmp_path / 'pano.png').stat().st_size < 100_000
    with _traced() as peak, pytest.raises(
            ValueError, match=r'pano\.png: the image declares (40000x20000 = 800,000,000 '
                              'pixels|too many pixels)'):
        LoadPanorama().transform(dict(image_path=path))
    assert peak[0] < 20_000_000
    small = hostile.huge_png(tmp_path / 'labels.png', 12000, 10000)  # 120 M: ours, not Pillow's
    with pytest.raises(ValueError, match=r'declares 12000x10000 = 120,000,000 pixels, beyond '
                                         r'the limit of 100,000,000'):
        LoadPanorama().transform(dict(image_path=small))


def test_vertex_tables_are_checked_before_decompressing(tmp_path):
    """The ScanNet vertex table the point metric reads: a bomb, floats, negative voxels."""
    from segmenter3d.evaluation import load_vertex_table, vertex_predictions
    bomb = hostile.zip_bomb_room(tmp_path / 'scene_bomb.npz', (300_000_000, 3), 'voxel', '<i4')
    start = time.perf_counter()
    with _traced() as peak, pytest.raises(
            ValueError, match=r"scene_bomb\.npz: field 'voxel' declares int32 \(300000000, 3\); "
                              r'integers, at most 600,000,000 values'):
        load_vertex_table(bomb)
    assert time.perf_counter() - start < 1 and peak[0] < 200 * 2**20
    np.savez(tmp_path / 'f.npz', voxel=np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"f\.npz: field 'voxel' declares float32"):
        load_vertex_table(str(tmp_path / 'f.npz'))
    np.savez(tmp_path / 'n.npz', voxel=np.array([[0, -1, 0]]))
    with pytest.raises(ValueError, match=r"n\.npz: field 'voxel' holds negative voxel indices"):
        load_vertex_table(str(tmp_path / 'n.npz'))
    np.savez(tmp_path / 'ok.npz', voxel=np.array([[0, 1, 2]]), labels=np.array([4], np.uint8))
    table = load_vertex_table(str(tmp_path / 'ok.npz'))
    pred = np.arange(27, dtype=np.uint8).reshape(3, 3, 3)
    assert vertex_predictions(pred, table['voxel']).tolist() == [5]
    with pytest.raises(ValueError, match=r'vertex voxels reach \[0, 1, 2\], outside the '
                                         r'prediction of shape \(2, 2, 2\)'):
        vertex_predictions(pred[:2, :2, :2], table['voxel'])


def test_the_teachers_panorama_dataset_refuses_a_huge_png_before_decoding(tmp_path):
    from segmenter3d.datasets import PanoramaDataset
    for sub in ('images', 'annotations'):
        (tmp_path / sub).mkdir()
    hostile.huge_png(tmp_path / 'images' / 'r.png')
    hostile.huge_png(tmp_path / 'annotations' / 'r.png', 32, 16)
    dataset = PanoramaDataset(data_root=str(tmp_path), data_prefix=dict(
        img_path='images', seg_map_path='annotations'), pipeline=[
            dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')])
    with _traced() as peak, pytest.raises(ValueError, match=r'r\.png: the image declares'):
        dataset[0]
    assert peak[0] < 20_000_000


def _no_decompressing(monkeypatch):
    """Reading any array's data fails the test: the refusal must come from the headers."""
    def refuse(*args, **kwargs):
        raise AssertionError('np.load was called: the data would be decompressed')
    monkeypatch.setattr(np, 'load', refuse)


def test_fields_whose_declared_shape_is_not_the_rooms_are_refused_unread(tmp_path, monkeypatch):
    """A grid of four axes, or labels declaring more values than the grid has voxels, would
    inflate beyond the room (a few MB of zeros declare GBs); both are refused from the .npy
    headers, naming the field and both shapes."""
    four = str(tmp_path / 'four.npz')
    np.savez_compressed(four, tsdf=np.zeros((2, 10, 10, 5), np.float32),
                        rgb=np.zeros((3, 10, 10, 5), np.uint8))
    wide = _room(tmp_path / 'wide.npz', labels=np.zeros((6, 7, 8, 40), np.uint8))
    _no_decompressing(monkeypatch)
    with pytest.raises(ValueError, match=r"four\.npz: field 'tsdf' must have shape "
                                         r"\(X, Y, Z\), got \(2, 10, 10, 5\)"):
        load_room(four)
    with pytest.raises(ValueError, match=r"wide\.npz: field 'labels' has shape "
                                         r"\(6, 7, 8, 40\), expected \(6, 7, 8\)"):
        load_room(wide)


def _patch(path, offset_of, value, fmt):
    """Rewrite a field of every zip header (local: signature PK\\3\\4, central: PK\\1\\2)."""
    import struct
    data = bytearray(open(path, 'rb').read())
    for signature, offset in ((b'PK\x03\x04', offset_of[0]), (b'PK\x01\x02', offset_of[1])):
        start = data.find(signature)
        while start >= 0:
            struct.pack_into(fmt, data, start + offset, value)
            start = data.find(signature, start + 4)
    open(path, 'wb').write(bytes(data))


@pytest.mark.parametrize('damage,match', [
    ('encrypted', 'is encrypted'),
    ('method', 'compression method is not supported'),
    ('deflate', 'Error -3 while decompressing'),
])
def test_damaged_zip_members_are_named_errors(tmp_path, damage, match):
    path = str(tmp_path / 'room.npz')
    rng = np.random.default_rng(0)
    # rounded values: a compressed stream of codes (random floats would be stored as they are)
    tsdf = np.round(rng.uniform(-3, 3, (20, 20, 20)), 1).astype(np.float32)
    np.savez_compressed(path, tsdf=tsdf, rgb=np.zeros((3, 20, 20, 20), np.uint8))
    if damage == 'encrypted':  # general-purpose flag bit 0
        _patch(path, (6, 8), 1, '<H')
    elif damage == 'method':  # compression method 99 (AES), which zipfile cannot read
        _patch(path, (8, 10), 99, '<H')
    else:  # a flipped run of bytes inside tsdf's deflate stream, past its header
        data = bytearray(open(path, 'rb').read())
        data[4000:4040] = bytes(255 - b for b in data[4000:4040])
        open(path, 'wb').write(bytes(data))
    with pytest.raises(ValueError, match=rf'room\.npz: cannot be read as \.npz .*{match}'):
        load_room(path)
