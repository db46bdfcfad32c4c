"""Loading a hostile checkpoint never runs code, anywhere a checkpoint enters."""
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

import hostile_files as hostile
from conftest import ROOT, build_model_from_config, data_root_options
from segmenter3d.checkpoint_io import load_checkpoint_file, load_weights, read_state_dict


class _GetattrCall:
    """Pickles as ``getattr(*args)``: the step of a hostile pickle that walks attributes from
    an allowed object (``HistoryBuffer.__init__.__globals__``) to a module's dict and on to
    ``builtins``."""

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
        from segmenter3d.synthrooms import generate_room
        from segmenter3d.synthrooms.writer import save_room_volume
        args[1] = str(tmp_path / 'r0.npz')
        save_room_volume(generate_room(0, voxel_size=0.2), args[1])
    proc = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'evil.pth: cannot be loaded' in proc.stderr and 'getattr' in proc.stderr, \
        proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr


# --- numpy and HistoryBuffer BUILDs, a structured meta -----------------------------------

PAYLOADS = {
    'void_meta': (hostile.void_meta_checkpoint, r'numpy dtype \[.*only plain numeric'),
    'history_buffer_build': (hostile.history_buffer_build_checkpoint,
                             r'HistoryBuffer whose statistics methods are not the default'),
    'dtype_build': (hostile.dtype_build_checkpoint, r"numpy dtype 'O8' \(align False\)"),
}


def test_the_void_meta_payload_is_real_with_numpy_allowed(tmp_path):
    """What the previous allow-list (numpy's dtype and scalar as themselves) let through: a
    ``meta`` in which mmengine's resume finds 'config' and reads Python source."""
    path = hostile.void_meta_checkpoint(tmp_path / 'void.pth')
    core = getattr(np, '_core', None) or np.core
    with torch.serialization.safe_globals([np.dtype, core.multiarray.scalar]):
        meta = torch.load(path, weights_only=True)['meta']
    assert isinstance(meta, np.void) and 'config' in meta
    assert meta['config'] == hostile.CONFIG_SOURCE  # what Config.fromstring would run


def test_the_history_buffer_payload_rewrites_the_class_with_mmengines_setstate(tmp_path):
    """With HistoryBuffer allowed as itself (the previous allow-list), its ``__setstate__``
    writes the pickled methods into the class table, for the whole process."""
    saved = dict(HistoryBuffer._statistics_methods)
    path = hostile.history_buffer_build_checkpoint(tmp_path / 'hub.pth')
    core = getattr(np, '_core', None) or np.core
    statistics = (lambda obj, name: getattr(HistoryBuffer, name), 'builtins.getattr')
    try:
        with torch.serialization.safe_globals([HistoryBuffer, np.dtype, np.ndarray, statistics,
                                               core.multiarray._reconstruct,
                                               type(np.dtype('float64')),
                                               type(np.dtype('int64'))]):
            torch.load(path, weights_only=True)
        assert HistoryBuffer._statistics_methods['mean'] is HistoryBuffer.max
        assert HistoryBuffer._statistics_methods['current'] is np.dtype
    finally:
        HistoryBuffer._statistics_methods.clear()
        HistoryBuffer._statistics_methods.update(saved)


@pytest.mark.parametrize('payload', sorted(PAYLOADS))
def test_every_loader_refuses_the_numpy_and_history_buffer_payloads(tmp_path, payload):
    build, match = PAYLOADS[payload]
    path = build(tmp_path / f'{payload}.pth')
    table = dict(HistoryBuffer._statistics_methods)
    from mmengine.runner.checkpoint import load_checkpoint

    from segmenter3d.models.backbones.swin3d import SwinTransformer3D  # noqa: F401
    for load in (load_checkpoint_file, read_state_dict,
                 lambda p: CheckpointLoader.load_checkpoint(p, map_location='cpu'),
                 lambda p: load_checkpoint(torch.nn.Linear(2, 1), p),  # load_from, init_cfg
                 lambda p: load_weights(torch.nn.Linear(2, 1), p, what='teacher checkpoint')):
        with pytest.raises(ValueError, match=rf'{payload}\.pth: cannot be loaded.*{match}'):
            load(path)
    assert HistoryBuffer._statistics_methods == table  # nothing process-wide changed
    assert not osp.exists('pwned')


def test_a_build_giving_a_plain_dtype_fields_is_refused_whatever_the_field(tmp_path):
    """The state check itself: a BUILD with names and fields on float64, the field plain."""
    path = hostile.dtype_build_checkpoint(tmp_path / 'fields.pth', field='f8')
    with pytest.raises(ValueError, match=r"fields\.pth: cannot be loaded.*sets numpy dtype f8 "
                                         r"to the state \(3, '\|', None, \('a',\).*only plain"):
        load_checkpoint_file(path)


@pytest.mark.parametrize('content,match', [
    ({'state_dict': {'w': torch.ones(1)}, 'meta': [1, 2]}, r"'meta' is a builtins\.list"),
    ({'state_dict': {'w': torch.ones(1)}, 'meta': {'iter': 2.5}},
     r"'meta'\['iter'\] is a float, not an integer"),
    ({'state_dict': {'w': 'text'}}, r"'state_dict'\['w'\] is a str, not a tensor"),
    ({'state_dict': {'w': torch.ones(1)}, 'meta': {'w': torch.ones(1)}},
     r"'meta'\['w'\] is a tensor"),
    ({'state_dict': {'w': torch.ones(1)}, 'message_hub': {'log_scalars': {}, 'x': {}}},
     r"'message_hub' holds \['log_scalars', 'x'\]"),
    ({'state_dict': {'w': torch.ones(1)},
      'message_hub': {'log_scalars': {'loss': np.ones(2)}}},
     r"'message_hub'\['log_scalars'\]\['loss'\] is a ndarray, not a HistoryBuffer"),
    ({'state_dict': {'w': torch.ones(1)}, 'meta': {'hub': HistoryBuffer()}},
     r"'meta'\['hub'\] is a mmengine\.logging\.history_buffer\.HistoryBuffer"),
    ({'state_dict': {'w': torch.ones(1)}, 'message_hub': {'resumed_keys': {'iter': 'yes'}}},
     r"'message_hub'\['resumed_keys'\]\['iter'\] is not a boolean"),
])
def test_checkpoints_of_an_unknown_shape_are_refused(tmp_path, content, match):
    path = str(tmp_path / 'odd.pth')
    torch.save(content, path)
    with pytest.raises(ValueError, match=r'odd\.pth: the checkpoint is not a checkpoint of a '
                                         r'known shape: ' + match):
        load_checkpoint_file(path)


def test_runner_shaped_checkpoints_load_with_real_values(tmp_path):
    path = hostile.runner_checkpoint(tmp_path / 'iter_2.pth')
    ckpt = load_checkpoint_file(path)
    info = ckpt['message_hub']['runtime_info']
    assert type(info['best_score']) is np.float64 and info['best_score'] == 0.5
    assert type(info['seed']) is np.int64 and info['seed'] == 3
    np.testing.assert_array_equal(info['shape'], np.arange(3))
    assert info['shape'].flags.writeable and info['shape'].dtype == np.arange(3).dtype
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert type(buffer) is HistoryBuffer
    assert buffer.mean() == pytest.approx(0.375) and buffer.current() == 0.25
    assert buffer.statistics('max') == 0.5
    assert 'config' not in ckpt['meta'] and ckpt['meta']['dataset_meta']['classes'] == ('a',
                                                                                          'b')


def test_importing_the_package_leaves_mmengines_loader_until_the_tools_switch_it():
    # the whole scheme table (an OrderedDict of prefix -> loader function, rebuilt by every
    # registration): the same prefixes in the same order, each the same loader object
    code = ('from mmengine.runner.checkpoint import CheckpointLoader as L\n'
            'before = list(L._schemes.items())\n'
            'assert len(before) > 1 and before[-1][0] == ""\n'
            'import segmenter3d\n'
            'from segmenter3d.checkpoint_io import _load_local, use_safe_checkpoint_loading\n'
            'after = list(L._schemes.items())\n'
            'assert [p for p, _ in after] == [p for p, _ in before], (before, after)\n'
            'assert all(a is b for (_, a), (_, b) in zip(after, before)), (before, after)\n'
            'assert all(loader is not _load_local for _, loader in before)\n'
            'assert use_safe_checkpoint_loading() and L._schemes[""] is _load_local\n'
            'assert [p for p in L._schemes] == [p for p, _ in before]\n'
            'assert all(L._schemes[p] is loader for p, loader in before if p)\n'
            'assert not use_safe_checkpoint_loading()\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
