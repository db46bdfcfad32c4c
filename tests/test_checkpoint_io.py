"""Loading a hostile checkpoint never runs code, anywhere a checkpoint enters."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from conftest import ROOT, build_model_from_config, data_root_options
from segmenter3d.checkpoint_io import load_checkpoint_file, load_weights, read_state_dict


class _GetattrCall:
    """Pickles as ``getattr(*args)``: the first step of the gadget in issue 14."""

    def __init__(self, *args):
        self.args = args

    def __reduce__(self):
        return getattr, self.args


def _gadget_checkpoint(path, state_dict=None):
    """A checkpoint whose meta walks HistoryBuffer.__init__.__globals__ (a module's dict a
    later SETITEMS could rewrite): only a real ``getattr`` gets there."""
    walk = _GetattrCall(_GetattrCall(HistoryBuffer, '__init__'), '__globals__')
    torch.save({'state_dict': state_dict or {'w': torch.ones(2)}, 'meta': {'x': walk}}, path)
    return str(path)


def test_the_gadget_is_real_with_a_plain_getattr_allow_list(tmp_path):
    """What the old process-wide ``add_safe_globals([getattr, ...])`` allowed."""
    path = _gadget_checkpoint(tmp_path / 'evil.pth')
    with torch.serialization.safe_globals([getattr, HistoryBuffer]):
        ckpt = torch.load(path, weights_only=True)
    assert ckpt['meta']['x']['HistoryBuffer'] is HistoryBuffer  # a module's globals reached


def test_every_loader_refuses_the_gadget_and_allows_no_builtin(tmp_path):
    path = _gadget_checkpoint(tmp_path / 'evil.pth')
    for load in (load_checkpoint_file, read_state_dict,
                 lambda p: CheckpointLoader.load_checkpoint(p, map_location='cpu'),
                 lambda p: load_weights(torch.nn.Linear(2, 1), p)):
        with pytest.raises(ValueError, match=r'evil\.pth: cannot be loaded.*getattr'):
            load(path)
    allowed = [str(g) for g in torch.serialization.get_safe_globals()]
    assert not any('builtin' in g for g in allowed), allowed  # nothing process-wide


def test_own_runner_checkpoints_with_message_hub_still_load(tmp_path):
    hub = HistoryBuffer()
    hub.update(0.5)
    hub.update(0.25)
    path = str(tmp_path / 'iter_2.pth')
    torch.save({'state_dict': {'w': torch.ones(1)},
                'message_hub': {'log_scalars': {'train/loss': hub}}}, path)
    ckpt = load_checkpoint_file(path)
    loaded = ckpt['message_hub']['log_scalars']['train/loss']
    assert loaded.mean() == pytest.approx(0.375) and loaded.current() == 0.25


@pytest.mark.parametrize('ddp', [False, True])
def test_state_dict_versions_survive_reading_so_spconv_weights_load(tmp_path, ddp):
    """A Runner checkpoint of the sparse U-Net loads back into it: torch's per-module
    versions (``_metadata``, kept under DDP's ``module.`` prefix too) tell mmdet3d's spconv
    loader that the weights are in spconv 2's layout, not spconv 1's."""
    from collections import OrderedDict

    from mmengine.runner.checkpoint import get_state_dict, weights_to_cpu

    from segmenter3d.models.backbones import SparseUNet3D
    torch.manual_seed(0)
    small = dict(base_channels=8, encoder_channels=(8, 16), decoder_channels=(16, 8),
                 encoder_blocks=(1, 1), decoder_blocks=(1, 1))
    state = weights_to_cpu(get_state_dict(SparseUNet3D(**small)))
    if ddp:
        wrapped = OrderedDict((f'module.{k}', v) for k, v in state.items())
        wrapped._metadata = OrderedDict(
            ('module' + (f'.{k}' if k else ''), v) for k, v in state._metadata.items())
        state = wrapped
    path = str(tmp_path / 'sparse.pth')
    torch.save({'state_dict': state}, path)
    _, read = read_state_dict(path)
    assert read._metadata['unet.conv_input.0'] == {'version': 2}
    fresh = SparseUNet3D(**small)  # other random weights
    load_weights(fresh, path)
    loaded = fresh.state_dict()
    assert set(loaded) == set(read)
    assert all(torch.equal(v, read[k]) for k, v in loaded.items())


def test_meta_config_source_is_dropped(tmp_path):
    path = str(tmp_path / 'c.pth')
    payload = "import os\nos.makedirs('pwned')\n"
    torch.save({'state_dict': {'w': torch.ones(1)}, 'meta': {'config': payload, 'iter': 2}},
               path)
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert 'config' not in ckpt['meta'] and ckpt['meta']['iter'] == 2


def _student_state():
    return build_model_from_config('3dseg/3dseg-t_synthrooms.py').state_dict()


@pytest.mark.slow
@pytest.mark.parametrize('tool', ['infer', 'test', 'extract', 'convert'])
def test_tools_refuse_the_gadget_with_a_named_error(tmp_path, tool, tiny_rooms):
    path = _gadget_checkpoint(tmp_path / 'evil.pth', _student_state())
    cfg = 'configs/3dseg/3dseg-t_synthrooms.py'
    args = {
        'infer': ['tools/infer.py', osp.join(ROOT, 'tests', 'data', 'missing.npz'), '--config',
                  cfg, '--checkpoint', path, '--out', str(tmp_path / 'o')],
        'test': ['tools/test.py', cfg, path, '--work-dir', str(tmp_path / 'w'),
                 '--cfg-options', *data_root_options(tiny_rooms)],
        'extract': ['tools/model_converters/extract_student.py', path, str(tmp_path / 's.pth')],
        'convert': ['tools/model_converters/reference_to_segmenter3d.py', path,
                    str(tmp_path / 'r.pth')],
    }[tool]
    if tool == 'infer':  # a real room, so the checkpoint is what fails
        from segmenter3d.synth import generate_room
        from segmenter3d.synth.writer import save_room_volume
        args[1] = str(tmp_path / 'r0.npz')
        save_room_volume(generate_room(0, voxel_size=0.2), args[1])
    proc = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'evil.pth: cannot be loaded' in proc.stderr and 'getattr' in proc.stderr, \
        proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr
