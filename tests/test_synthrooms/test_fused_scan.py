import json
import os.path as osp

import mmcv
import numpy as np
import pytest

from segmenter3d.synthrooms import generate_dataset, generate_room, render_panorama
from segmenter3d.synthrooms.generate import room_seed
from segmenter3d.synthrooms.scan import frame_intrinsics, fuse_frames, fused_scan, scan_frames


def test_fused_generated_room_matches_the_exact_tsdf_where_observed():
    """Frames rendered from a generated room at eye level and fused on its grid give back its
    TSDF: on observed voxels of the surface band the median error is below 0.3 voxel."""
    room = generate_room(4, voxel_size=0.08, max_extent=3.5)
    rng = np.random.default_rng(0)
    frames = scan_frames(room, 16, rng)
    for f in frames:
        eye = f['pose'][:3, 3]
        assert 1.4 - 0.08 <= eye[2] <= 1.8 + 0.08  # camera height above the floor (z = 0)
    fused = fuse_frames(frames, room.tsdf.shape, room.voxel_size, room.origin, 30,
                        frame_intrinsics())
    observed = fused['weight'] > 0
    band = observed & (np.abs(room.tsdf) < 3)
    diff = np.abs(fused['tsdf'] - room.tsdf)
    print(f'observed {observed.mean():.3f} of voxels; median |fused - exact| on observed '
          f'voxels {np.median(diff[observed]):.3f}, on observed surface-band voxels '
          f'{np.median(diff[band]):.3f} voxel')
    assert band.sum() > 1000
    assert np.median(diff[observed]) <= 0.3 and np.median(diff[band]) <= 0.3
    # labels of observed surface voxels agree with the room's
    surface = observed & (np.abs(room.tsdf) < 1) & (fused['labels'] != 255)
    assert (fused['labels'][surface] == room.labels[surface]).mean() > 0.9


def test_depth_noise_and_the_unobserved_share_are_recorded():
    room = generate_room(5, voxel_size=0.1, max_extent=3.0)
    clean = fused_scan(room, 6, seed=1)
    noisy = fused_scan(room, 6, seed=1, depth_noise=0.02)
    assert 0 < clean.meta['unobserved'] < 1 and 0 <= clean.meta['unobserved_surface'] < 1
    # the shares of the voxels, and of the exact surface band, that no frame voted on
    frames = scan_frames(room, 6, np.random.default_rng(1))
    seen = fuse_frames(frames, room.tsdf.shape, room.voxel_size, room.origin, 30,
                       frame_intrinsics())['weight'] > 0
    band = np.abs(room.tsdf) < 3
    assert clean.meta['unobserved'] == pytest.approx(1 - seen.mean())
    assert clean.meta['unobserved_surface'] == pytest.approx(1 - seen[band].mean())
    assert clean.meta['fusion_seconds'] > 0
    band = np.abs(room.tsdf) < 3
    err_clean = np.abs(clean.tsdf - room.tsdf)[band & (clean.tsdf < 3)]
    err_noisy = np.abs(noisy.tsdf - room.tsdf)[band & (noisy.tsdf < 3)]
    assert np.mean(err_noisy) > np.mean(err_clean)
    # unlabelled far free space stays void, unseen solid is ignored
    assert set(np.unique(clean.labels)) <= set(np.unique(room.labels)) | {255}


def test_generator_writes_scanned_rooms_and_their_unobserved_shares(tmp_path):
    out = str(tmp_path / 'rooms')
    generate_dataset(out, 2, seed=1, voxel_size=0.2, pano_size=(16, 32), split_ratios=(1, 1, 0),
                     scan_frames=4)
    with open(osp.join(out, 'scans.json')) as f:
        scans = json.load(f)
    assert sorted(scans['rooms']) == ['room_00000', 'room_00001']
    assert 0 < scans['summary']['mean_unobserved'] < 1
    volume = np.load(osp.join(out, 'volumes', 'room_00000.npz'))
    assert (volume['tsdf'] == 3).mean() > 0  # unobserved voxels are +3
    # the stored volume is the fused scan of that room, not the exact room
    exact = generate_room(room_seed(1, 0), voxel_size=0.2)
    scanned = fused_scan(exact, 4, seed=room_seed(1, 0))
    np.testing.assert_allclose(volume['tsdf'], scanned.tsdf, atol=2e-3)  # stored as float16
    np.testing.assert_array_equal(volume['labels'], scanned.labels)
    assert not np.allclose(volume['tsdf'], exact.tsdf, atol=2e-3)
    # ... while the panorama is the exact room's view, as the paper renders it
    stored = mmcv.imread(osp.join(out, 'images', 'training', 'room_00000.png'))
    np.testing.assert_array_equal(stored, render_panorama(exact, 16, 32)['rgb'][..., ::-1])
