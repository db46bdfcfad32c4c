"""fuse_rgbd.py on hostile scan folders and options: one ``error:`` line naming the file or
the option, exit code 1, no hang, no huge allocation, nothing written."""
import os
import os.path as osp
import struct
import warnings
import zlib

import cv2
import numpy as np
import pytest
from rgbd_fixture import write_analytic_scan

from conftest import load_tool

fuse_rgbd = load_tool('data/fuse_rgbd')


@pytest.fixture
def scan(tmp_path):
    folder = str(tmp_path / 'scan')
    write_analytic_scan(folder, num_frames=3, depth_size=(30, 40), colour_size=(60, 80))
    return folder


def _refused(scan, tmp_path, capsys, *options, names=()):
    out = tmp_path / 'out' / 'room.npz'
    code = fuse_rgbd.main([scan, '--out', str(out), '--voxel-size', '0.2', *options])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith('error: '), err
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert not out.exists()
    return lines[0]


def _write_matrix(path, matrix):
    with open(path, 'w') as f:
        f.write(''.join(' '.join(f'{v:.9g}' for v in row) + '\n' for row in matrix))


def test_a_pipe_or_a_device_as_a_frame_is_refused_without_reading_it(scan, tmp_path, capsys):
    depth = osp.join(scan, 'depth', '1.png')
    with open(depth, 'rb') as f:
        good = f.read()
    os.remove(depth)
    os.mkfifo(depth)  # reading it would block forever
    _refused(scan, tmp_path, capsys, names=(depth, 'not a regular file'))
    os.remove(depth)
    os.symlink('/dev/zero', depth)  # reading it would never end
    _refused(scan, tmp_path, capsys, names=(depth, 'leads outside the scan folder'))
    os.remove(depth)
    with open(depth, 'wb') as f:
        f.write(good)
    pose = osp.join(scan, 'pose', '2.txt')
    os.remove(pose)
    os.mkfifo(pose)
    _refused(scan, tmp_path, capsys, names=(pose, 'not a regular file'))


def test_files_linked_from_outside_the_scan_folder_are_refused_unread(scan, tmp_path, capsys):
    """A frame that is a symlink out of the scan (a private file, another scan) is named; the
    scan folder may itself be a link, and links within it are fine."""
    secret = tmp_path / 'secret.png'
    colour = osp.join(scan, 'color', '1.jpg')
    os.replace(colour, secret)
    os.symlink(secret, colour)
    _refused(scan, tmp_path, capsys, names=(colour, 'leads outside the scan folder',
                                            str(secret)))
    os.remove(colour)
    os.makedirs(osp.join(scan, 'extra'))
    inside = osp.join(scan, 'extra', '1.jpg')
    os.replace(secret, inside)
    os.symlink(osp.join('..', 'extra', '1.jpg'), colour)  # a relative link within the scan
    pose = osp.join(scan, 'pose', '2.txt')
    outside_pose = tmp_path / 'pose.txt'
    os.replace(pose, outside_pose)
    os.symlink(outside_pose, pose)
    _refused(scan, tmp_path, capsys, names=(pose, 'leads outside'))
    os.remove(pose)
    os.replace(outside_pose, pose)
    for name in ('intrinsic', 'label'):  # a linked folder, not a linked file
        folder = osp.join(scan, name)
        assert osp.isdir(folder), folder
        moved = tmp_path / f'elsewhere-{name}'
        os.replace(folder, moved)
        os.symlink(moved, folder)
        _refused(scan, tmp_path, capsys, names=(folder + os.sep, 'leads outside', str(moved)))
        os.remove(folder)
        os.replace(moved, folder)
    linked = tmp_path / 'linked-scan'
    os.symlink(scan, linked)  # data on another disk
    out = tmp_path / 'room.npz'
    assert fuse_rgbd.main([str(linked), '--out', str(out), '--voxel-size', '0.2']) == 0
    os.remove(colour)  # the same frame as a plain file: the same room
    os.replace(inside, colour)
    direct = tmp_path / 'direct.npz'
    assert fuse_rgbd.main([scan, '--out', str(direct), '--voxel-size', '0.2']) == 0
    with np.load(out) as room, np.load(direct) as expected:
        assert (room['weight'] > 0).sum() > 1000 and sorted(room) == sorted(expected)
        for key in expected:
            np.testing.assert_array_equal(room[key], expected[key], err_msg=key)


def test_an_image_declaring_a_huge_size_is_refused_before_decoding(scan, tmp_path, capsys):
    """A few bytes of PNG whose header claims 20000 x 20000 pixels (800 MB decoded)."""
    depth = osp.join(scan, 'depth', '1.png')
    ok, png = cv2.imencode('.png', np.zeros((4, 4), np.uint16))
    data = bytearray(png.tobytes())
    assert data[12:16] == b'IHDR'
    data[16:24] = struct.pack('>II', 20000, 20000)
    data[29:33] = struct.pack('>I', zlib.crc32(bytes(data[12:29])))
    with open(depth, 'wb') as f:
        f.write(bytes(data))
    # Pillow refuses such a header itself (its own limit, in some versions) or reads its size
    message = _refused(scan, tmp_path, capsys, names=(depth, 'declares'))
    assert '400000000 pixels' in message or '20000x20000 pixels' in message, message
    data[16:24] = struct.pack('>II', 8000, 8000)  # 64 Mpx: below PIL's limit, above ours
    data[29:33] = struct.pack('>I', zlib.crc32(bytes(data[12:29])))
    with open(depth, 'wb') as f:
        f.write(bytes(data))
    _refused(scan, tmp_path, capsys, names=(depth, 'declares 8000x8000 pixels'))


@pytest.mark.parametrize('edit,message', [
    (lambda m: m @ np.diag([1, 1, -1, 1]), 'a reflection'),  # a flipped axis, still orthonormal
    (lambda m: m + np.pad(np.full((3, 1), 1e9), ((0, 1), (3, 0))), 'from the world origin'),
    (lambda m: m + np.pad(np.full((3, 1), 1e39), ((0, 1), (3, 0))), 'from the world origin'),
])
def test_impossible_poses_are_named(scan, tmp_path, capsys, edit, message):
    path = osp.join(scan, 'pose', '1.txt')
    _write_matrix(path, edit(np.loadtxt(path)))
    _refused(scan, tmp_path, capsys, names=(path, message))


def test_an_empty_pose_file_is_one_error_and_no_warning(scan, tmp_path, capsys):
    path = osp.join(scan, 'pose', '1.txt')
    open(path, 'w').close()
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # numpy's 'input contained no data' would raise here
        _refused(scan, tmp_path, capsys, names=(path, ))


@pytest.mark.parametrize('entry,value,message', [
    ((0, 0), 1e-300, 'fx, fy between 1 and 1e+06 pixels'),
    ((1, 1), 1e9, 'fx, fy between 1 and 1e+06 pixels'),
    ((0, 1), 30.0, 'skewed pinhole'),
])
def test_impossible_intrinsics_are_named(scan, tmp_path, capsys, entry, value, message):
    path = osp.join(scan, 'intrinsic', 'intrinsic_depth.txt')
    K = np.loadtxt(path)
    K[entry] = value
    _write_matrix(path, K)
    _refused(scan, tmp_path, capsys, names=(path, message))


@pytest.mark.parametrize('options,message', [
    (('--depth-scale', '1e-40'), 'depth scale (--depth-scale) must be at least 0.65535'),
    (('--voxel-size', '1e308'), '--voxel-size) must be between 0.001 and 1 metres'),
    (('--voxel-size', '1e-300'), '--voxel-size) must be between 0.001 and 1 metres'),
    (('--bounds', '0', '0', '0', '1e20', '1e20', '1e20'), 'the --bounds span'),
    (('--device', 'foo'), '--device foo'),
    (('--device', 'meta'), '--device meta: the tools run on cpu, cuda[:N] or mps'),
])
def test_options_beyond_any_room_are_named(scan, tmp_path, capsys, options, message):
    _refused(scan, tmp_path, capsys, *options, names=(message, ))


def test_unwritable_outputs_are_refused_before_fusing(scan, tmp_path, capsys):
    blocker = tmp_path / 'afile'
    blocker.write_bytes(b'keep')
    for out, message in ((blocker / 'room.npz', 'is a file, not a folder'),
                         (tmp_path / ('r' * 240 + '.npz'), 'too long')):
        code = fuse_rgbd.main([scan, '--out', str(out), '--voxel-size', '0.2'])
        err = capsys.readouterr().err
        assert code == 1 and message in err and err.count('\n') == 1, err
    folder = tmp_path / 'dir.npz'
    (folder / 'inside').mkdir(parents=True)
    code = fuse_rgbd.main([scan, '--out', str(folder), '--voxel-size', '0.2', '--overwrite'])
    assert code == 1 and 'is a folder' in capsys.readouterr().err
    assert blocker.read_bytes() == b'keep' and (folder / 'inside').is_dir()


def test_a_label_table_that_is_not_utf8_text_is_named(scan, tmp_path, capsys):
    tsv = tmp_path / 'labels.tsv'
    tsv.write_bytes(b'id\tnyu40id\n\xff\xfe\t1\n')
    _refused(scan, tmp_path, capsys, '--label-map', str(tsv),
             names=(str(tsv), 'not a tab-separated UTF-8 label table'))
    tsv.write_text('id\tnyu40id\n1\t' + 'x' * 200_000 + '\n')
    _refused(scan, tmp_path, capsys, '--label-map', str(tsv), names=(str(tsv), ))


def test_only_ascii_digits_name_a_frame(scan, tmp_path, capsys):
    """'²' is a digit to str.isdigit() but no frame number: the file is not a frame."""
    for sub, suffix in (('depth', '.png'), ('color', '.jpg'), ('pose', '.txt')):
        src = osp.join(scan, sub, f'0{suffix}')
        with open(src, 'rb') as f, open(osp.join(scan, sub, f'\u00b2{suffix}'), 'wb') as g:
            g.write(f.read())
    out = str(tmp_path / 'room.npz')
    assert fuse_rgbd.main([scan, '--out', out, '--voxel-size', '0.2']) == 0
    assert '3 frames fused, 0 skipped' in capsys.readouterr().out


def test_an_unreadable_frame_and_rounding_noise_in_the_skew(scan, tmp_path, capsys,
                                                            monkeypatch):
    """A file the user may not read is named (tests run as root, so the refusal is faked at
    the open); a skew of calibration rounding noise is no skew."""
    from segmenter3d.datasets import rgbd_scan
    path = osp.join(scan, 'intrinsic', 'intrinsic_depth.txt')
    K = np.loadtxt(path)
    K[0, 1] = 1e-9
    _write_matrix(path, K)
    assert fuse_rgbd.main([scan, '--out', str(tmp_path / 'ok.npz'), '--voxel-size', '0.2']) == 0
    capsys.readouterr()
    depth = osp.join(scan, 'depth', '2.png')

    real_open = os.open

    def denied(name, *args, **kwargs):
        if osp.realpath(name) == osp.realpath(depth):
            raise PermissionError(13, 'Permission denied', name)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(rgbd_scan.os, 'open', denied)
    _refused(scan, tmp_path, capsys, names=(depth, 'cannot be read (Permission denied)'))


def test_a_gpu_this_machine_lacks_is_named_before_fusing(scan, tmp_path, capsys, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    _refused(scan, tmp_path, capsys, '--device', 'cuda:5',
             names=('--device cuda:5: this machine has 1 GPU(s), cuda:0 to cuda:0', ))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    _refused(scan, tmp_path, capsys, '--device', 'cuda',
             names=('--device cuda: CUDA is not available here', ))


def test_a_frame_linked_out_after_the_scan_was_checked_is_still_refused(scan, tmp_path):
    """The containment is checked again at every read, on the resolved path that is read."""
    from segmenter3d.datasets.rgbd_scan import ScanFolder
    folder = ScanFolder(scan)
    pose = osp.join(scan, 'pose', '2.txt')
    np.testing.assert_array_equal(folder.pose(2), np.loadtxt(pose))
    outside = tmp_path / 'pose.txt'
    os.replace(pose, outside)
    os.symlink(outside, pose)
    with pytest.raises(ValueError, match=r'pose/2\.txt: leads outside the scan folder'):
        folder.pose(2)
