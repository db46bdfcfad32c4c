import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from rgbd_fixture import COLOURS, intrinsics, seen_by, surface_points, write_analytic_scan

from conftest import load_tool

fuse_rgbd = load_tool('data/fuse_rgbd')


@pytest.fixture(scope='module')
def analytic_scan(tmp_path_factory):
    scan = str(tmp_path_factory.mktemp('scan') / 'scene')
    poses = write_analytic_scan(scan, num_frames=24)
    return scan, poses


def test_known_answer_analytic_room(analytic_scan, tmp_path, capsys):
    """Frames of a box room with a cube and a sphere, fused by the tool: the TSDF vanishes on
    the true surfaces and the voxels there carry the surfaces' labels."""
    import torch

    from segmenter3d.datasets import load_room
    from segmenter3d.rendering import sample_volume
    scan, poses = analytic_scan
    out = str(tmp_path / 'room.npz')
    assert fuse_rgbd.main([scan, '--out', out, '--voxel-size', '0.04']) == 0
    assert '24 frames fused, 0 skipped' in capsys.readouterr().out
    room = load_room(out, num_classes=5)
    with np.load(out) as npz:
        weight, origin, vs = npz['weight'], npz['origin'], float(npz['voxel_size'])
    points, truth = surface_points(0.05)
    seen = seen_by(points, poses, intrinsics(240, 320), (240, 320))
    assert seen.mean() > 0.6
    vox = (points[seen] - origin) / vs
    tsdf = sample_volume(torch.from_numpy(room['tsdf'])[None],
                         torch.from_numpy(vox).float())[0].numpy()
    err = np.abs(tsdf)
    median, p90 = np.median(err), np.quantile(err, 0.9)
    print(f'analytic room: |tsdf| at {len(err)} observed surface points: median {median:.3f}, '
          f'p90 {p90:.3f} voxel')
    assert median <= 0.25 and p90 <= 0.6
    near = np.round(vox).astype(int)
    labels = room['labels'][tuple(near.T)]
    labelled = labels != 255
    right = (labels == truth[seen])[labelled].mean()
    print(f'labelled {labelled.mean():.3f}, right {right:.3f}')
    assert labelled.mean() >= 0.95 and right >= 0.95
    # colour: the surfaces' own colours (JPEG and resampling: within a few levels)
    rgb = room['rgb'][:, near[:, 0], near[:, 1], near[:, 2]].T.astype(int)
    assert np.median(np.abs(rgb - COLOURS[truth[seen]].astype(int)).max(1)) <= 8
    # origin = the centre of voxel 0; the grid covers the room's 4 x 3.5 x 2.6 m
    assert (origin < -0.1).all() and (origin + vs * (np.array(weight.shape) - 1) >
                                      [4.1, 3.6, 2.5]).all()


def test_label_map_colour_sized_labels_and_non_finite_poses(analytic_scan, tmp_path, capsys):
    """Raw ScanNet ids in ``label-filt/`` at the colour size map through the tsv like the
    mesh labels; -inf poses are skipped and counted."""
    from segmenter3d.datasets.scannet_io import NYU40_LUT
    scan = str(tmp_path / 'scene')
    poses = write_analytic_scan(scan, num_frames=6, depth_size=(60, 80),
                                colour_size=(120, 160), label_size=(120, 160))
    os.rename(osp.join(scan, 'label'), osp.join(scan, 'label-filt'))
    # raw ids, not nyu40 ids: the tsv's last column maps them (floor 102 -> nyu 2, wall
    # 101 -> 1, ceiling 122 -> 22, not a benchmark class, cube 107 -> 7 (table), sphere
    # 105 -> 5 (chair)); reading any other column leaves ids the benchmark does not know
    raw_of = np.array([102, 101, 122, 107, 105], np.uint16)
    nyu_of = np.array([2, 1, 22, 7, 5])
    for name in os.listdir(osp.join(scan, 'label-filt')):
        path = osp.join(scan, 'label-filt', name)
        ids = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        cv2.imwrite(path, raw_of[ids])
    tsv = tmp_path / 'labels.tsv'
    tsv.write_text('id\traw_category\tcategory\tcount\tnyu40id\n' + ''.join(
        f'{r}\tc{r}\tc{r}\t1\t{n}\n' for r, n in zip(raw_of, nyu_of)))
    with open(osp.join(scan, 'pose', '3.txt'), 'w') as f:
        f.write('-inf -inf -inf -inf\n' * 4)
    out = str(tmp_path / 'room.npz')
    assert fuse_rgbd.main([scan, '--out', out, '--voxel-size', '0.1', '--label-map',
                           str(tsv)]) == 0
    assert '5 frames fused, 1 skipped' in capsys.readouterr().out
    with np.load(out) as npz:
        labels, origin, vs = npz['labels'], npz['origin'], float(npz['voxel_size'])
    found = set(np.unique(labels).tolist())
    expected = {int(NYU40_LUT[n]) for n in (1, 2, 5, 7)}
    assert expected <= found <= expected | {255}
    # in place: the voxels on the surfaces the frames saw carry those surfaces' classes
    # (labels at the colour size resampled to the depth frames, not shifted or scaled)
    points, truth = surface_points(0.05)
    seen = seen_by(points, [p for i, p in enumerate(poses) if i != 3], intrinsics(60, 80),
                   (60, 80))
    near = np.round((points[seen] - origin) / vs).astype(int)
    got = labels[tuple(near.T)]
    want = NYU40_LUT[nyu_of[truth[seen]]]
    labelled = (got != 255)[want != 255].mean()
    right = (got == want)[(got != 255) & (want != 255)].mean()
    print(f'labels in place at {seen.sum()} seen surface points: labelled {labelled:.3f}, '
          f'right {right:.3f}')
    assert seen.sum() > 1000 and labelled >= 0.9 and right >= 0.9


def test_given_bounds_fix_the_grid(analytic_scan, tmp_path):
    scan, _ = analytic_scan
    out = str(tmp_path / 'room.npz')
    assert fuse_rgbd.main([scan, '--out', out, '--voxel-size', '0.1', '--frame-step', '4',
                           '--bounds', '0', '0', '0', '4', '3.5', '2.6']) == 0
    with np.load(out) as npz:
        np.testing.assert_allclose(npz['origin'], 0, atol=1e-6)
        assert npz['tsdf'].shape == (41, 36, 27)
        # voxels (i, j, 0) lie on the floor (z = 0)
        seen = npz['weight'][:, :, 0] > 0
        floor = np.abs(npz['tsdf'][:, :, 0].astype(np.float32))[seen]
        assert seen.mean() > 0.3 and np.median(floor) < 0.2
        assert (npz['labels'][:, :, 0][seen] == 0).mean() > 0.8


def test_the_room_is_never_written_over_an_input(analytic_scan, tmp_path, capsys):
    scan, _ = analytic_scan
    target = osp.join(scan, 'depth', 'room.npz')
    assert fuse_rgbd.main([scan, '--out', target]) == 1
    assert 'input folder' in capsys.readouterr().err and not osp.exists(target)
    existing = tmp_path / 'room.npz'
    existing.write_bytes(b'keep')
    assert fuse_rgbd.main([scan, '--out', str(existing)]) == 1
    assert '--overwrite' in capsys.readouterr().err and existing.read_bytes() == b'keep'


@pytest.fixture
def small_scan(tmp_path):
    scan = str(tmp_path / 'small')
    write_analytic_scan(scan, num_frames=3, depth_size=(30, 40), colour_size=(60, 80))
    return scan


def _fails_naming(scan, tmp_path, capsys, *names):
    code = fuse_rgbd.main([scan, '--out', str(tmp_path / 'out.npz'), '--voxel-size', '0.2'])
    err = capsys.readouterr().err
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), err
    for name in names:
        assert name in lines[0], lines[0]
    assert not osp.exists(tmp_path / 'out.npz')
    return lines[0]


def test_missing_intrinsics(small_scan, tmp_path, capsys):
    os.remove(osp.join(small_scan, 'intrinsic', 'intrinsic_depth.txt'))
    _fails_naming(small_scan, tmp_path, capsys, 'intrinsic_depth.txt', 'not found')


def test_frame_counts_that_do_not_match(small_scan, tmp_path, capsys):
    os.remove(osp.join(small_scan, 'color', '1.jpg'))
    _fails_naming(small_scan, tmp_path, capsys, osp.join(small_scan, 'color'), 'color/1.jpg')
    shutil.copy(osp.join(small_scan, 'color', '0.jpg'), osp.join(small_scan, 'color', '1.jpg'))
    shutil.copy(osp.join(small_scan, 'pose', '0.txt'), osp.join(small_scan, 'pose', '9.txt'))
    _fails_naming(small_scan, tmp_path, capsys, 'pose', '9.txt')


def test_non_finite_poses(small_scan, tmp_path, capsys):
    """Some -inf poses are skipped and counted; when none is left it is an error; a pose
    that is not a matrix is an error naming its file."""
    for i in range(3):
        with open(osp.join(small_scan, 'pose', f'{i}.txt'), 'w') as f:
            f.write('-inf -inf -inf -inf\n' * 4)
    _fails_naming(small_scan, tmp_path, capsys, 'pose', 'not finite')
    with open(osp.join(small_scan, 'pose', '1.txt'), 'w') as f:
        f.write('1 0 0\n0 1 0\n')
    _fails_naming(small_scan, tmp_path, capsys, osp.join('pose', '1.txt'))


def test_depth_of_another_size_than_its_intrinsics(small_scan, tmp_path, capsys):
    for i in range(3):
        path = osp.join(small_scan, 'depth', f'{i}.png')
        cv2.imwrite(path, cv2.imread(path, cv2.IMREAD_UNCHANGED)[::2, ::2].copy())
    _fails_naming(small_scan, tmp_path, capsys, osp.join('depth', '0.png'),
                  'intrinsic_depth.txt', '20x15')


def test_eight_bit_or_rgb_depth(small_scan, tmp_path, capsys):
    path = osp.join(small_scan, 'depth', '1.png')
    depth = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    cv2.imwrite(path, (depth // 20).astype(np.uint8))
    _fails_naming(small_scan, tmp_path, capsys, path, '8-bit')
    cv2.imwrite(path, np.repeat((depth // 20).astype(np.uint8)[..., None], 3, 2))
    _fails_naming(small_scan, tmp_path, capsys, path, 'channels')


def test_an_empty_folder(tmp_path, capsys):
    empty = tmp_path / 'empty'
    empty.mkdir()
    _fails_naming(str(empty), tmp_path, capsys, 'folder not found')
    for sub in ('color', 'depth', 'pose', 'intrinsic'):
        (empty / sub).mkdir()
    _fails_naming(str(empty), tmp_path, capsys, osp.join(str(empty), 'depth'), 'no frames')


def test_missing_colour(small_scan, tmp_path, capsys):
    shutil.rmtree(osp.join(small_scan, 'color'))
    _fails_naming(small_scan, tmp_path, capsys, osp.join(small_scan, 'color'), 'not found')


def test_a_label_png_of_another_size(small_scan, tmp_path, capsys):
    path = osp.join(small_scan, 'label', '2.png')
    cv2.imwrite(path, np.zeros((17, 23), np.uint8))
    _fails_naming(small_scan, tmp_path, capsys, path, '23x17')


def test_an_undecodable_image(small_scan, tmp_path, capsys):
    path = osp.join(small_scan, 'color', '2.jpg')
    with open(path, 'wb') as f:
        f.write(b'not a jpeg')
    _fails_naming(small_scan, tmp_path, capsys, path, 'cannot be decoded')


def test_max_depth_and_depth_scale(small_scan, tmp_path, capsys):
    """Depth beyond --max-depth is dropped (here all of it: nothing left to fuse); with
    --depth-scale the same PNGs are read in other units (x10 farther)."""
    code = fuse_rgbd.main([small_scan, '--out', str(tmp_path / 'a.npz'), '--max-depth', '0.3'])
    assert code == 1 and 'valid depth' in capsys.readouterr().err
    assert fuse_rgbd.main([small_scan, '--out', str(tmp_path / 'b.npz'), '--voxel-size', '0.5',
                           '--depth-scale', '100']) == 0
    with np.load(tmp_path / 'b.npz') as npz:
        tsdf, origin = npz['tsdf'].astype(np.float32), npz['origin']
    assert (np.array(tsdf.shape) - 1).max() * 0.5 > 20  # the 4 m room seen 10 times farther
    # frame 0's pixels back-projected at ten times their metric depth lie on the fused surface
    depth = cv2.imread(osp.join(small_scan, 'depth', '0.png'), cv2.IMREAD_UNCHANGED) / 1000.0
    pose = np.loadtxt(osp.join(small_scan, 'pose', '0.txt'))
    v, u = np.nonzero(depth > 0)
    k = intrinsics(30, 40)

    def on_surface(scale):
        z = scale * depth[v, u]
        cam = np.stack([(u - k[0, 2]) / k[0, 0] * z, (v - k[1, 2]) / k[1, 1] * z, z], 1)
        voxel = np.round((cam @ pose[:3, :3].T + pose[:3, 3] - origin) / 0.5).astype(int)
        voxel = np.clip(voxel, 0, np.array(tsdf.shape) - 1)
        return np.median(np.abs(tsdf[tuple(voxel.T)]))

    assert len(v) > 500 and on_surface(10) < 0.6 < 2 < on_surface(1)


def test_zero_padded_names_match_but_a_frame_named_twice_is_refused(small_scan, tmp_path,
                                                                     capsys):
    """``000001.png`` is frame 1 as ``1.png`` is; a folder holding both is an error (one of
    them used to be dropped silently, whichever the file system listed last)."""
    for i in range(3):
        os.rename(osp.join(small_scan, 'depth', f'{i}.png'),
                  osp.join(small_scan, 'depth', f'{i:06d}.png'))
    assert fuse_rgbd.main([small_scan, '--out', str(tmp_path / 'a.npz'), '--voxel-size',
                           '0.2']) == 0
    capsys.readouterr()
    shutil.copy(osp.join(small_scan, 'color', '2.jpg'), osp.join(small_scan, 'color', '01.jpg'))
    _fails_naming(small_scan, tmp_path, capsys, osp.join(small_scan, 'color', '1.jpg'),
                  'frame 1 again', '01.jpg')


def test_poses_that_are_not_rigid_and_intrinsics_that_are_not_pinhole(small_scan, tmp_path,
                                                                      capsys):
    pose = osp.join(small_scan, 'pose', '1.txt')
    scaled = np.loadtxt(pose)
    scaled[:3, :3] *= 2  # a scaled rotation would stretch every ray
    np.savetxt(pose, scaled)
    _fails_naming(small_scan, tmp_path, capsys, pose, 'rigid', 'orthonormal by 3')
    scaled[:3, :3] /= 2
    scaled[3] = 0
    np.savetxt(pose, scaled)
    _fails_naming(small_scan, tmp_path, capsys, pose, 'last row 0 0 0 0')
    scaled[3, 3] = 1
    np.savetxt(pose, scaled)
    intrinsic = osp.join(small_scan, 'intrinsic', 'intrinsic_depth.txt')
    K = np.loadtxt(intrinsic)
    K[2, 2] = 0
    np.savetxt(intrinsic, K)
    _fails_naming(small_scan, tmp_path, capsys, intrinsic, 'third row', '0 0 0')
    K[2, 2] = 1  # and 3x3 intrinsics are read as the 4x4 ones
    np.savetxt(intrinsic, K[:3, :3])
    assert fuse_rgbd.main([small_scan, '--out', str(tmp_path / 'a.npz'), '--voxel-size',
                           '0.2']) == 0


@pytest.mark.parametrize('option', [('--voxel-size', '0'), ('--voxel-size', '-0.1'),
                                    ('--voxel-size', 'nan'), ('--batch-size', '0'),
                                    ('--frame-step', '0'), ('--depth-scale', 'nan'),
                                    ('--max-depth', '-1')])
def test_voxel_and_batch_sizes_that_are_not_positive(small_scan, tmp_path, capsys, option):
    """Used to fail inside the fusion (``TSDFFusion: shape must be 3 positive sizes, got
    (-9223372036854775807, …)``), or, with --batch-size 0, to read every frame at once."""
    code = fuse_rgbd.main([small_scan, '--out', str(tmp_path / 'out.npz'), *option])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith('error: ') and len(err.splitlines()) == 1
    assert small_scan in err and option[0] in err and 'TSDFFusion' not in err
    assert not osp.exists(tmp_path / 'out.npz')


def test_bounds_that_hold_no_depth_write_nothing(small_scan, tmp_path, capsys):
    """--bounds away from the room (or depth all zero inside them) would give a room that is
    unobserved everywhere, which no tool can read back: refused."""
    code = fuse_rgbd.main([small_scan, '--out', str(tmp_path / 'out.npz'), '--voxel-size', '0.2',
                           '--bounds', '100', '100', '100', '102', '102', '102'])
    err = capsys.readouterr().err
    assert code == 1 and small_scan in err and 'no depth' in err and '102.0' in err
    assert not osp.exists(tmp_path / 'out.npz')


def test_bounds_leaving_the_scanner_out_store_no_camera(small_scan, tmp_path):
    """The mean scanner position is the room's camera only when it lies in the volume: a
    camera outside the room is refused when the room is read."""
    from segmenter3d.datasets import load_room
    out = str(tmp_path / 'part.npz')
    assert fuse_rgbd.main([small_scan, '--out', out, '--voxel-size', '0.2', '--bounds', '0',
                           '0', '0', '4', '3.5', '1.0']) == 0  # the scanner is at 1.4-1.8 m
    with np.load(out) as npz:
        assert 'camera' not in npz.files
    load_room(out, num_classes=5)


def test_file_names_that_are_not_utf8(small_scan, tmp_path, capsys):
    """OpenCV's imread crashed the process (segfault) on a path that is not valid UTF-8."""
    scan = os.fsdecode(os.fsencode(str(tmp_path)) + b'/scan-\xff')
    os.rename(small_scan, scan)
    out = str(tmp_path / 'out.npz')
    assert fuse_rgbd.main([scan, '--out', out, '--voxel-size', '0.2']) == 0
    assert '3 frames fused' in capsys.readouterr().out


def test_bounds_too_large_for_the_memory_are_refused(small_scan, tmp_path, capsys,
                                                     monkeypatch):
    """Up to 300 M voxels used to be allocated whatever the memory (about 64 bytes a voxel
    with 20 classes: 19 GB): the grid's need is now checked against the free memory."""
    from segmenter3d.datasets import rgbd_fusion
    free = rgbd_fusion.available_bytes('cpu')
    assert free is None or free > 2**20
    monkeypatch.setattr(rgbd_fusion, 'available_bytes', lambda device: 200_000)  # 200 kB
    line = _fails_naming(small_scan, tmp_path, capsys, small_scan, '--bounds', 'GB')
    assert 'GB are free on cpu' in line
    code = fuse_rgbd.main([small_scan, '--out', str(tmp_path / 'out.npz'), '--voxel-size', '0.2',
                           '--bounds', '0', '0', '0', '4', '3.5', '0.4'])  # the floor fits
    assert code == 0, capsys.readouterr().err
