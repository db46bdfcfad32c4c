import os
import os.path as osp
import sys

import cv2
import numpy as np
import torch

from conftest import CONFIGS, ROOT, build_model_from_config, load_tool
from segmenter3d.datasets.rgbd_scan import ScanFolder, write_scan
from segmenter3d.rendering import TSDFRaycaster
from segmenter3d.synthrooms import generate_room
from segmenter3d.synthrooms.scan import frame_intrinsics, scan_frames

sys.path.insert(0, osp.join(ROOT, 'tools'))
import infer  # noqa: E402

fuse_rgbd = load_tool('data/fuse_rgbd')


def test_scan_fuse_infer_gives_labels_on_every_frame(tmp_path):
    """Scan frames -> fuse -> infer -> per-frame labels. Each pixel gets the prediction of the
    voxel behind its ray's first hit, so the per-frame accuracy (against the frames' own
    labels) equals the voxel prediction's accuracy (against the fused room's labels) at the
    hit voxels."""
    room = generate_room(7, voxel_size=0.1, max_extent=3.0)
    size = (30, 40)
    frames = scan_frames(room, 5, np.random.default_rng(0), size=size)
    frames[2]['pose'] = np.full((4, 4), -np.inf)  # a frame with lost tracking
    scan = str(tmp_path / 'scan')
    write_scan(scan, frames, frame_intrinsics(size))
    assert fuse_rgbd.main([scan, '--out', str(tmp_path / 'room.npz'), '--voxel-size',
                           '0.1']) == 0
    torch.manual_seed(0)
    model = build_model_from_config('3dseg/3dseg-t_synthrooms.py')
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'model.pth')
    out = tmp_path / 'out'
    assert infer.main([str(tmp_path / 'room.npz'), '--config',
                       f'{CONFIGS}/3dseg/3dseg-t_synthrooms.py', '--checkpoint',
                       str(tmp_path / 'model.pth'), '--out', str(out), '--frames', scan]) == 0
    pred = np.load(out / 'room_labels.npz')['labels']
    with np.load(tmp_path / 'room.npz') as npz:
        tsdf, fused_labels = npz['tsdf'].astype(np.float32), npz['labels']
        origin, vs = npz['origin'], float(npz['voxel_size'])
    assert not osp.exists(out / 'room_frames' / 'label' / '2.png')  # skipped, not invented
    folder = ScanFolder(scan)
    caster = TSDFRaycaster()
    right_pixels = total = right_voxels = 0
    for i, frame in enumerate(frames):
        if i == 2:
            continue
        png = cv2.imread(str(out / 'room_frames' / 'label' / f'{i}.png'), cv2.IMREAD_UNCHANGED)
        assert png.shape == size
        assert osp.getsize(out / 'room_frames' / 'overlay' / f'{i}.jpg') > 500
        # the hit voxel of every pixel, computed here independently of the tool
        hits = caster.cast_pinhole(torch.from_numpy(tsdf), folder.depth_k, frame['pose'], size,
                                   vs, origin)
        cam = torch.from_numpy((frame['pose'][:3, 3] - origin) / vs).float()
        voxel = hits.behind(cam).points.round().long().numpy()
        voxel = np.minimum(np.maximum(voxel, 0), np.array(tsdf.shape) - 1)
        hit = hits.valid.numpy()
        expected = np.where(hit, pred[tuple(np.moveaxis(voxel, -1, 0))], 255)
        assert (png == expected).mean() > 0.995
        truth = frame['labels']
        voxel_truth = fused_labels[tuple(np.moveaxis(voxel, -1, 0))]
        use = hit & (truth != 255) & (voxel_truth != 255)
        total += use.sum()
        right_pixels += (png == truth)[use].sum()
        right_voxels += (expected == voxel_truth)[use].sum()
    assert total > 1000
    frame_acc, voxel_acc = right_pixels / total, right_voxels / total
    print(f'per-frame label accuracy {frame_acc:.4f}, voxel accuracy at the hits {voxel_acc:.4f}')
    assert abs(frame_acc - voxel_acc) <= 0.02
    # a rerun into the same --out replaces its own outputs, the frames folder included
    before = cv2.imread(str(out / 'room_frames' / 'label' / '0.png'), cv2.IMREAD_UNCHANGED)
    os.remove(out / 'room_frames' / 'label' / '0.png')
    assert infer.main([str(tmp_path / 'room.npz'), '--config',
                       f'{CONFIGS}/3dseg/3dseg-t_synthrooms.py', '--checkpoint',
                       str(tmp_path / 'model.pth'), '--out', str(out), '--frames', scan]) == 0
    again = cv2.imread(str(out / 'room_frames' / 'label' / '0.png'), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(again, before)


def test_label_frames_of_a_scannet_model_in_scannet_2d_format(tmp_path):
    """Labels put back on the frames are the labels of the voxels the rays hit; a ScanNet
    model's frames also get NYU40 ids (0 where nothing is hit)."""
    from segmenter3d.apis.frames import label_frames
    from segmenter3d.datasets.scannet_io import CLASS_TO_NYU40
    from segmenter3d.taxonomy import SCANNET20_PALETTE
    room = generate_room(3, voxel_size=0.1, max_extent=3.0)
    size = (24, 32)
    frames = scan_frames(room, 2, np.random.default_rng(1), size=size)
    scan = str(tmp_path / 'scan')
    write_scan(scan, frames, frame_intrinsics(size))
    truth = np.where(room.labels == 255, 255, room.labels % 20).astype(np.uint8)
    done = label_frames(dict(tsdf=room.tsdf, voxel_size=room.voxel_size, origin=room.origin),
                        truth, scan, str(tmp_path / 'out'), SCANNET20_PALETTE, progress=False,
                        nyu40=CLASS_TO_NYU40)
    assert done == dict(written=2, skipped=0)
    for i, frame in enumerate(frames):
        png = cv2.imread(str(tmp_path / 'out' / 'label' / f'{i}.png'), cv2.IMREAD_UNCHANGED)
        expected = np.where(frame['labels'] == 255, 255, frame['labels'] % 20)
        assert (png == expected).mean() > 0.99  # the frames' own labels, read the same way
        nyu = cv2.imread(str(tmp_path / 'out' / 'label-nyu40' / f'{i}.png'),
                         cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(nyu, np.where(png == 255, 0, CLASS_TO_NYU40[png % 20]))


def test_frames_need_a_fused_room(tmp_path, capsys):
    """Frames are labelled through the fused room's origin: a room without one (here a volume
    saved without it), or a mesh, is refused with --frames, naming the room."""
    room = generate_room(7, voxel_size=0.1, max_extent=3.0)
    size = (24, 32)
    scan = str(tmp_path / 'scan')
    write_scan(scan, scan_frames(room, 2, np.random.default_rng(0), size=size),
               frame_intrinsics(size))
    np.savez(tmp_path / 'r.npz', tsdf=room.tsdf, rgb=room.rgb, labels=room.labels,
             voxel_size=np.float32(room.voxel_size))
    torch.manual_seed(0)
    model = build_model_from_config('3dseg/3dseg-t_synthrooms.py')
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'model.pth')
    args = ['--config', f'{CONFIGS}/3dseg/3dseg-t_synthrooms.py', '--checkpoint',
            str(tmp_path / 'model.pth'), '--out', str(tmp_path / 'out'), '--frames', scan]
    assert infer.main([str(tmp_path / 'r.npz')] + args) == 1
    err = capsys.readouterr().err
    assert 'r.npz: --frames needs a room fused from the frames' in err
    from segmenter3d.taxonomy import PANOROOMS3D_PALETTE
    from segmenter3d.visualization import label_mesh, write_ply
    verts, faces, colors, vlab = label_mesh(room.tsdf, room.labels, PANOROOMS3D_PALETTE,
                                            room.voxel_size, room.origin)
    write_ply(str(tmp_path / 'm.ply'), verts, faces, colors, vlab)
    assert infer.main([str(tmp_path / 'm.ply'), '--voxel-size', '0.1'] + args) == 1
    assert 'm.ply: --frames needs a room fused from the frames' in capsys.readouterr().err
    # and a scan folder that is not there is named before any model is read
    args[-1] = str(tmp_path / 'nope')
    assert infer.main([str(tmp_path / 'r.npz')] + args) == 1
    assert 'nope: scan folder not found' in capsys.readouterr().err


def test_a_bad_pose_late_in_the_scan_is_refused_before_anything_is_written(tmp_path, capsys):
    """The frames' poses used to be read one by one after the labels, mesh and panorama were
    written: a broken last pose left those behind with an error."""
    room = generate_room(7, voxel_size=0.1, max_extent=3.0)
    size = (24, 32)
    frames = scan_frames(room, 3, np.random.default_rng(0), size=size)
    scan = str(tmp_path / 'scan')
    write_scan(scan, frames, frame_intrinsics(size))
    assert fuse_rgbd.main([scan, '--out', str(tmp_path / 'room.npz'), '--voxel-size',
                           '0.1']) == 0
    pose = osp.join(scan, 'pose', '2.txt')
    with open(pose, 'w') as f:
        f.write('1 0 0 0\n0 1 0 0\n')
    capsys.readouterr()
    code = infer.main([str(tmp_path / 'room.npz'), '--config', 'x.py', '--checkpoint', 'y.pth',
                       '--out', str(tmp_path / 'out'), '--frames', scan])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith(f'error: {pose}: ') and len(err.splitlines()) == 1
    assert not osp.exists(tmp_path / 'out')
