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
