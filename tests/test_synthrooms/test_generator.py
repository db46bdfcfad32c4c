import hashlib
import os

import numpy as np
import pytest
import torch

from segmenter3d.rendering import TSDFRaycaster
from segmenter3d.synthrooms import generate_dataset, generate_room, render_panorama
from segmenter3d.synthrooms.generate import assign_splits


def _digest(room):
    h = hashlib.sha256()
    for arr in (room.tsdf, room.rgb, room.labels, room.camera):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_room():
    a, b = generate_room(3, voxel_size=0.1), generate_room(3, voxel_size=0.1)
    assert _digest(a) == _digest(b)
    assert _digest(generate_room(4, voxel_size=0.1)) != _digest(a)


def test_labels_only_where_geometry_is():
    room = generate_room(7, voxel_size=0.08)
    far_free = room.tsdf >= 3.0
    assert (room.labels[far_free] == 0).all() and (room.rgb[:, far_free] == 0).all()
    near = room.tsdf < 3.0
    assert (room.labels[near] != 0).all()  # every solid or near-surface voxel has a class
    assert room.tsdf.min() == -3.0 and np.isin(17, room.labels) and np.isin(20, room.labels)
    assert room.tsdf[tuple(room.camera.astype(int))] == 3.0


def test_panorama_labels_equal_the_label_of_the_hit_voxel():
    room = generate_room(11, voxel_size=0.08)
    pano = render_panorama(room, 32, 64)
    hits = TSDFRaycaster(32, 64).cast(torch.from_numpy(room.tsdf), torch.from_numpy(room.camera))
    assert hits.valid.float().mean() > 0.99  # a closed room: every ray hits something
    # The voxel a ray hits: the first occupied (tsdf < 0) voxel centre within half a voxel
    # behind the zero crossing, found here by rounding rather than by grid sampling.
    dirs = torch.nn.functional.normalize(hits.points - torch.from_numpy(room.camera), dim=-1)
    ids = (hits.points + 0.5 * dirs).round().long()
    expected = room.labels[ids[..., 0], ids[..., 1], ids[..., 2]]
    solid = room.tsdf[ids[..., 0], ids[..., 1], ids[..., 2]] < 0
    tie = ((hits.points + 0.5 * dirs - (hits.points + 0.5 * dirs).floor() - 0.5).abs()
           < 1e-3).any(-1)
    valid = (hits.valid & ~tie).numpy()
    assert valid.mean() > 0.9 and solid[valid].mean() > 0.95
    assert (pano['labels'][valid] == expected[valid]).all()
    assert pano['rgb'].shape == (32, 64, 3) and pano['depth'].max() > 1.0


def test_generate_dataset_writes_layout_and_resumes(tmp_path):
    out = str(tmp_path / 'rooms')
    summary = generate_dataset(out, 4, seed=1, voxel_size=0.12, pano_size=(16, 32),
                               split_ratios=(2, 1, 1))
    assert summary['rooms'] == 4 and summary['skipped'] == 0
    assert open(f'{out}/splits/training.txt').read().split() == ['room_00000', 'room_00001']
    assert os.path.isfile(f'{out}/images/validation/room_00002.png')
    assert os.path.isfile(f'{out}/annotations/test/room_00003.png')
    before = open(f'{out}/volumes/room_00001.npz', 'rb').read()
    os.remove(f'{out}/images/training/room_00000.png')  # as if interrupted mid-room
    again = generate_dataset(out, 4, seed=1, voxel_size=0.12, pano_size=(16, 32),
                             split_ratios=(2, 1, 1))
    assert again['skipped'] == 3 and (again['hist'] == summary['hist']).all()
    assert open(f'{out}/volumes/room_00001.npz', 'rb').read() == before
    assert not [f for _, _, fs in os.walk(out) for f in fs if '.tmp' in f]
    # a rerun with other parameters would keep the old rooms: refused, naming the difference
    with pytest.raises(ValueError, match=r'generator\.json: .*voxel_size: 0\.12 there, 0\.2 '
                                         r'now.*use another --out'):
        generate_dataset(out, 4, seed=1, voxel_size=0.2, pano_size=(16, 32),
                         split_ratios=(2, 1, 1))
    with pytest.raises(ValueError, match=r'seed: 1 there, 2 now'):
        generate_dataset(out, 4, seed=2, voxel_size=0.12, pano_size=(16, 32),
                         split_ratios=(2, 1, 1))
    assert open(f'{out}/volumes/room_00001.npz', 'rb').read() == before


def test_assign_splits():
    assert assign_splits(10, (0.8, 0.1, 0.1)).count('training') == 8
    with pytest.raises(ValueError, match='split ratios'):
        assign_splits(10, (1, 1))


def test_scan_simulation_hides_what_no_camera_sees():
    from scipy import ndimage

    from segmenter3d.synthrooms import simulate_scan
    room = generate_room(21, voxel_size=0.1)
    scanned = simulate_scan(room, num_cameras=3, seed=0)
    hidden = scanned.tsdf != room.tsdf
    assert hidden.any()
    # Hidden voxels look empty; hidden solid or near-surface voxels are ignored in the loss.
    assert (scanned.tsdf[hidden] == 3).all() and (scanned.rgb[:, hidden] == 0).all()
    assert (scanned.labels[hidden & (room.tsdf < 3)] == 255).all()
    # Deep inside the walls nothing is observed; the surfaces the main camera sees are.
    deep = ndimage.binary_erosion(room.tsdf <= -3, iterations=3)
    assert deep.any() and (scanned.tsdf[deep] == 3).all()
    hits = TSDFRaycaster(32, 64).cast(torch.from_numpy(room.tsdf), torch.from_numpy(room.camera))
    ids = hits.points[hits.valid].round().long()
    np.testing.assert_array_equal(scanned.tsdf[ids[:, 0], ids[:, 1], ids[:, 2]],
                                  room.tsdf[ids[:, 0], ids[:, 1], ids[:, 2]])
    # the share of the room's non-empty voxels some camera saw: exactly those left as they were
    solid = room.tsdf < 3
    kept = (scanned.tsdf == room.tsdf)[solid].mean()
    assert 0 < kept < 1 and scanned.meta['observed_fraction'] == pytest.approx(kept)


def test_small_rooms_keep_every_part_inside():
    """Clamped rooms (short walls, narrow L wings) used to ask numpy for empty ranges."""
    for seed in range(1000, 1040):
        room = generate_room(seed, voxel_size=0.25, max_extent=3.0)
        assert (room.labels == 17).any()
        assert room.tsdf[tuple(room.camera.astype(int))] == room.tsdf.max() > 0
