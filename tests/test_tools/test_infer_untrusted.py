"""tools/infer.py on hostile checkpoints, configs and output folders: one ``error:`` line
naming the file and the field, before the room is read or anything is written."""
import os
import os.path as osp
import sys

import pytest
import torch

from conftest import CONFIGS, ROOT, build_model_from_config
from segmenter3d.synthrooms import generate_room, save_room_volume

sys.path.insert(0, osp.join(ROOT, 'tools'))
import infer  # noqa: E402

CONFIG = f'{CONFIGS}/3dseg/3dseg-t_synthrooms.py'


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """(room, state_dict) of a tiny room and an initialised 3DSeg-T."""
    folder = tmp_path_factory.mktemp('inputs')
    save_room_volume(generate_room(9, voxel_size=0.3), str(folder / 'room.npz'))
    torch.manual_seed(0)
    model = build_model_from_config('3dseg/3dseg-t_synthrooms.py')
    model.init_weights()
    return str(folder / 'room.npz'), model.state_dict()


def _fails(capsys, room, out, *names, config=CONFIG, checkpoint=None):
    code = infer.main([room, '--config', config, '--checkpoint', str(checkpoint), '--out',
                       str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith('error: '), err
    for name in names:
        assert name in err[0], (name, err[0])
    return err[0]


@pytest.mark.parametrize('meta,message', [
    ('classes', "meta['dataset_meta'] must be a dict, got str"),
    (dict(palette=[[999, -1, 5]] * 30), "meta['dataset_meta']['palette'] must be 30 RGB"),
    (dict(palette='abc'), "meta['dataset_meta']['palette'] must be 30 RGB"),
    (dict(classes=['wall']), "meta['dataset_meta']['classes'] must be 30 class names"),
])
def test_checkpoint_metadata_that_would_break_the_pictures_is_named(inputs, tmp_path, capsys,
                                                                     meta, message):
    room, state = inputs
    torch.save({'state_dict': state, 'meta': {'dataset_meta': meta}}, tmp_path / 'm.pth')
    _fails(capsys, room, tmp_path / 'out', 'm.pth', message, checkpoint=tmp_path / 'm.pth')
    assert not (tmp_path / 'out').exists()


def test_a_diverged_checkpoint_is_refused_not_run(inputs, tmp_path, capsys):
    """NaN weights used to give a room of class 0 everywhere, exit code 0."""
    room, state = inputs
    bad = dict(state)
    key = 'decode_head.linear_1.bias' if 'decode_head.linear_1.bias' in state else next(
        k for k, v in state.items() if v.is_floating_point())
    bad[key] = torch.full_like(state[key], float('nan'))
    torch.save({'state_dict': bad}, tmp_path / 'nan.pth')
    _fails(capsys, room, tmp_path / 'out', f"nan.pth: state_dict['{key}'] holds NaN or Inf",
           checkpoint=tmp_path / 'nan.pth')


@pytest.mark.parametrize('text,message', [
    ('model = dict(type=', 'not a usable config (SyntaxError'),
    ('x = 1\n', "not a usable config (AttributeError: 'ConfigDict' object has no attribute "
     "'model'"),
    ("model = dict(type='NoSuchSegmentor')\n", 'the model cannot be built (KeyError'),
    ('model = 5\n', 'the model cannot be built (TypeError'),
    ("_base_ = '/etc/passwd'\n", 'not a usable config (OSError'),
])
def test_broken_configs_are_named(inputs, tmp_path, capsys, text, message):
    room, state = inputs
    torch.save({'state_dict': state}, tmp_path / 'k.pth')
    (tmp_path / 'c.py').write_text(text)
    _fails(capsys, room, tmp_path / 'out', 'c.py: ' + message, config=str(tmp_path / 'c.py'),
           checkpoint=tmp_path / 'k.pth')


@pytest.mark.parametrize('device,message', [
    ('foo', '--device foo: '),
    ('meta', '--device meta: the tools run on cpu, cuda[:N] or mps'),
    ('cuda:3', '--device cuda:3: CUDA is not available here'),
])
def test_a_device_the_tool_cannot_use_is_named_before_the_model_is_built(
        inputs, tmp_path, capsys, monkeypatch, device, message):
    room, state = inputs
    torch.save({'state_dict': state}, tmp_path / 'k.pth')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(infer, 'build_model', lambda args: pytest.fail('model built'))
    code = infer.main([room, '--config', CONFIG, '--checkpoint', str(tmp_path / 'k.pth'),
                       '--out', str(tmp_path / 'out'), '--device', device])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith('error: ' + message), err
    assert not (tmp_path / 'out').exists()


def test_a_pipe_as_the_config_is_refused_unread(inputs, tmp_path, capsys):
    room, _ = inputs
    os.mkfifo(tmp_path / 'c.py')  # mmengine would block reading it
    _fails(capsys, room, tmp_path / 'out', 'c.py: not a regular file',
           config=str(tmp_path / 'c.py'), checkpoint=tmp_path / 'k.pth')


def test_outputs_under_a_file_or_with_too_long_names_are_refused_first(inputs, tmp_path,
                                                                        capsys):
    room, state = inputs
    torch.save({'state_dict': state}, tmp_path / 'k.pth')
    blocker = tmp_path / 'afile'
    blocker.write_bytes(b'keep')
    for out in (blocker, blocker / 'sub'):
        _fails(capsys, room, out, f'{blocker} is a file, not a folder',
               checkpoint=tmp_path / 'k.pth')
    assert blocker.read_bytes() == b'keep'
    long_room = tmp_path / ('r' * 236 + '.npz')
    long_room.write_bytes(open(room, 'rb').read())
    _fails(capsys, str(long_room), tmp_path / 'out', 'the file name is too long',
           checkpoint=tmp_path / 'k.pth')
    assert not (tmp_path / 'out').exists()


def _ply(path, vertex_fields, vertices, faces, face_field='vertex_indices'):
    """A binary PLY from numpy-typed vertex rows and a list of faces."""
    import numpy as np
    from plyfile import PlyData, PlyElement
    vertex = np.array(vertices, dtype=vertex_fields)
    face_dtype = [(face_field, 'i4', (3, ))] if face_field and all(
        len(f) == 3 for f in faces) else [(face_field, object)] if face_field else []
    face = np.empty(len(faces), dtype=face_dtype) if face_dtype else np.empty(1, [])
    if face_field:
        for i, f in enumerate(faces):
            face[i] = (np.asarray(f, np.int32), )
    PlyData([PlyElement.describe(vertex, 'vertex'),
             PlyElement.describe(face, 'face')]).write(str(path))
    return str(path)


XYZ_RGB = [('x', 'f8'), ('y', 'f8'), ('z', 'f8'), ('red', 'f4'), ('green', 'u1'),
           ('blue', 'u1')]
CUBE = [(x, y, z, 90, 90, 90) for x in (0, 1) for y in (0, 1) for z in (0, 1)]


@pytest.mark.parametrize('vertices,faces,message', [
    ([(1e308, 0, 0, 9, 9, 9)] + CUBE[1:], [(0, 1, 2)], 'vertex positions reach 1e+308 m'),
    ([v[:3] + (300.7, 9, 9) for v in CUBE], [(0, 1, 2)],
     'vertex colours (red, green, blue) must lie in 0..255, got 9..300.7'),
    (CUBE, [(0, 1, 2), (0, 1, 3, 2)], "must list triangles, got faces of [3, 4] vertices"),
    # one 6 m triangle 2000 times: a small room, but sampled every 1 cm 2.6e8 points (15 GB)
    ([(0, 0, 0, 9, 9, 9), (6, 0, 0, 9, 9, 9), (0, 6, 0, 9, 9, 9), (0, 0, 2, 9, 9, 9)],
     [(0, 1, 2)] * 2000, 'more than 40,000,000 (faces far larger than a voxel)'),
])
def test_hostile_meshes_are_named(inputs, tmp_path, capsys, vertices, faces, message):
    _, state = inputs
    torch.save({'state_dict': state}, tmp_path / 'k.pth')
    mesh = _ply(tmp_path / 'm.ply', XYZ_RGB, vertices, faces)
    code = infer.main([mesh, '--config', CONFIG, '--checkpoint', str(tmp_path / 'k.pth'),
                       '--out', str(tmp_path / 'out'), '--voxel-size', '0.04'])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith(f'error: {mesh}: '), err
    assert message in err[0], err[0]


def test_release_rooms_with_colours_no_packing_gives_are_named(tmp_path):
    import numpy as np

    from segmenter3d.datasets import load_room
    sdf = np.linspace(-1, 1, 336).reshape(6, 7, 8).astype(np.float32)
    for colour, message in ((np.nan, 'contains NaN or Inf'), (-1e30, 'outside 0..16777215')):
        np.savez(tmp_path / 'r.npz', sdf128=sdf, color128=np.full(sdf.shape, colour),
                 semanticlabel=np.zeros(sdf.shape, np.int64))
        with pytest.raises(ValueError, match=rf"r\.npz: field 'color128' .*{message}"):
            load_room(str(tmp_path / 'r.npz'))
    # a sentinel in empty voxels (dropped there anyway) is not refused
    colour = np.where(sdf >= 1, -1, 0x0A0B0C)
    np.savez(tmp_path / 'r.npz', sdf128=sdf, color128=colour,
             semanticlabel=np.zeros(sdf.shape, np.int64))
    rgb = load_room(str(tmp_path / 'r.npz'))['rgb']
    assert (rgb[:, sdf < 1] == np.array([12, 11, 10])[:, None]).all()
    assert (rgb[:, sdf >= 1] == 0).all()


def test_no_limits_lifts_the_surface_sample_cap(inputs, tmp_path, capsys, monkeypatch):
    _, state = inputs
    torch.save({'state_dict': state}, tmp_path / 'k.pth')
    mesh = _ply(tmp_path / 'm.ply', XYZ_RGB, CUBE, [(0, 1, 3), (0, 3, 2), (4, 5, 7)])
    monkeypatch.setattr(infer, 'MAX_SURFACE_SAMPLES', 10)
    args = [mesh, '--config', CONFIG, '--checkpoint', str(tmp_path / 'k.pth'), '--out',
            str(tmp_path / 'out'), '--voxel-size', '0.1']
    assert infer.main(args) == 1 and 'more than 10 (faces far larger than a voxel)' in (
        capsys.readouterr().err)
    assert infer.main(args + ['--no-limits']) == 0


def test_a_checkpoint_record_that_inflates_is_refused_before_loading(tmp_path):
    """torch stores records uncompressed; one deflated from 64 MB of zeros to 64 kB (the
    same scheme reaches GBs) is refused from the zip directory, before torch allocates it."""
    import zipfile

    from segmenter3d.checkpoint_io import load_checkpoint_file
    torch.save({'state_dict': {'w': torch.zeros(10)}}, tmp_path / 'plain.pth')
    with zipfile.ZipFile(tmp_path / 'plain.pth') as src, \
            zipfile.ZipFile(tmp_path / 'bomb.pth', 'w') as dst:
        for info in src.infolist():
            if '/data/' in info.filename:
                record = zipfile.ZipInfo(info.filename)
                record.compress_type = zipfile.ZIP_DEFLATED
                dst.writestr(record, bytes(64 << 20))
            else:
                dst.writestr(info, src.read(info.filename))
    assert load_checkpoint_file(str(tmp_path / 'plain.pth'))['state_dict']['w'].shape == (10, )
    with pytest.raises(ValueError, match=r"bomb\.pth: record '.*/data/0' of the checkpoint "
                                         r'declares 67,108,864 bytes from \d+'):
        load_checkpoint_file(str(tmp_path / 'bomb.pth'))


def test_a_pickle_the_loader_refuses_gives_its_reason(tmp_path):
    import pickle

    from segmenter3d.checkpoint_io import load_checkpoint_file

    class Payload:
        def __reduce__(self):
            return (os.system, ('touch ' + str(tmp_path / 'PWNED'), ))

    (tmp_path / 'p.pth').write_bytes(pickle.dumps(Payload(), protocol=2))
    with pytest.raises(ValueError, match=r'p\.pth: cannot be loaded as a checkpoint .*: \S'):
        load_checkpoint_file(str(tmp_path / 'p.pth'))
    assert not (tmp_path / 'PWNED').exists()


def test_frames_too_large_to_cast_are_refused_before_anything_is_written(inputs, tmp_path,
                                                                          capsys, monkeypatch):
    import numpy as np

    from segmenter3d.datasets.rgbd_scan import write_scan
    from segmenter3d.synthrooms.scan import frame_intrinsics
    room, state = inputs
    torch.save({'state_dict': state}, tmp_path / 'k.pth')
    pose = np.eye(4)
    frame = dict(depth=np.ones((30, 40)), rgb=np.zeros((30, 40, 3), np.uint8), pose=pose)
    write_scan(str(tmp_path / 'scan'), [frame], frame_intrinsics((30, 40)))
    monkeypatch.setattr(infer, 'MAX_FRAME_RAYS', 30 * 40 - 1)  # a 7000 x 7000 PNG is 112 kB
    code = infer.main([room, '--config', CONFIG, '--checkpoint', str(tmp_path / 'k.pth'),
                       '--out', str(tmp_path / 'out'), '--frames', str(tmp_path / 'scan')])
    assert code == 1 and 'depth frames of 40x30 are more than 1,199 rays to cast each' in (
        capsys.readouterr().err)
    assert not (tmp_path / 'out').exists()
