import os.path as osp
import re
import sys

import pytest
import torch

from conftest import ROOT, build_model_from_config
from segmenter3d.models.backbones.swin3d_convert import ours_to_reference, reference_to_ours
from segmenter3d.testing import REFERENCE_VARIANTS, ReferenceSegmenter3D

sys.path.insert(0, osp.join(ROOT, 'tools', 'model_converters'))
import reference_to_segmenter3d as converter  # noqa: E402

# the reference release's key listing (every key and shape of a 3DSeg-L checkpoint)
KEYS_FILE = osp.join(ROOT, 'tests', 'data', 'official_checkpoint_keys.txt')


def _official_keys(variant_title):
    """Key -> shape of one variant block of the reference key listing."""
    keys, inside = {}, False
    for line in open(KEYS_FILE):
        if line.startswith('## '):
            inside = line.startswith(f'## {variant_title}:')
            continue
        m = re.match(r'^(\S+) \(([\d, ]*)\)$', line.strip())
        if inside and m:
            keys[m.group(1)] = tuple(int(v) for v in m.group(2).split(',') if v.strip())
    return keys


def _random_reference(arch, seed=0):
    torch.manual_seed(seed)
    net = ReferenceSegmenter3D(*REFERENCE_VARIANTS[arch]).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            is_norm_weight = 'norm' in name and 'weight' in name
            p.copy_(torch.randn_like(p) * (0.05 if p.dim() > 1 else 0.1) + is_norm_weight)
    return net


@pytest.mark.parametrize('arch,title', [('t', '3DSeg-T'), ('l', '3DSeg-L')])
def test_reference_net_has_the_official_layout(arch, title):
    official = _official_keys(title)
    ours = {k: tuple(v.shape) for k, v in _random_reference(arch).state_dict().items()}
    assert ours == official


@pytest.mark.parametrize('arch', ['t', 'm'])
def test_converted_weights_give_reference_logits(arch):
    ref = _random_reference(arch)
    model = build_model_from_config(f'3dseg/3dseg-{arch}_8xb1-80k_panorooms-128.py').eval()
    missing, unexpected = model.load_state_dict(reference_to_ours(ref.state_dict()), strict=True)
    # 66x64x80 pads to 72x64x80: shifted windows in stage 0 (18x16x20 tokens) and on two
    # axes of stage 1 (9x8x10); its middle axis is exactly one window. No window is clipped:
    # there the reference's sliced bias index reads wrong offsets (see test_swin3d.py).
    x = torch.rand(1, 4, 66, 64, 80) * 2 - 1
    with torch.no_grad():
        expected = ref(x)
        got = model(x, mode='tensor')
    assert got.shape == expected.shape == (1, 30, 66, 64, 80)
    assert (got - expected).abs().max() < 1e-4


def test_round_trip_ours_reference_ours_is_lossless():
    model = build_model_from_config('3dseg/3dseg-b_8xb1-80k_panorooms-128.py')
    model.init_weights()
    ours = model.state_dict()
    ref = ours_to_reference(ours)
    assert len(ref) == 97  # the listing: 'same key pattern as 3DSeg-T ...; 97 entries'
    assert ref['encoder.patch_embed.layers.1.blocks.3.attn.relative_position_index'].shape == (
        512, 512)
    back = reference_to_ours(ref)
    assert list(back) == list(ours)
    for k in ours:
        assert torch.equal(back[k], ours[k]), k


def test_cli_converts_and_checks_against_config(tmp_path):
    ref = _random_reference('t')
    src, dst = tmp_path / 'ref.pth', tmp_path / 'out' / 'ours.pth'
    torch.save({'state_dict': ref.state_dict()}, src)
    cfg = osp.join(ROOT, 'configs/3dseg/3dseg-t_8xb1-80k_panorooms-128.py')
    assert converter.main([str(src), str(dst), '--config', cfg]) == 0
    state = torch.load(dst, weights_only=True)['state_dict']
    model = build_model_from_config('3dseg/3dseg-t_8xb1-80k_panorooms-128.py')
    model.load_state_dict(state, strict=True)
    want = reference_to_ours(ref.state_dict())  # the converter's function, in memory
    assert list(state) == list(want)
    for k in want:
        assert torch.equal(state[k], want[k]), k


def test_cli_refuses_other_variant_and_keeps_existing_output(tmp_path, capsys):
    src, dst = tmp_path / 'ref.pth', tmp_path / 'ours.pth'
    torch.save(_random_reference('t').state_dict(), src)
    dst.write_bytes(b'previous')
    cfg = osp.join(ROOT, 'configs/3dseg/3dseg-l_panorooms.py')
    assert converter.main([str(src), str(dst), '--config', cfg]) == 1
    err = capsys.readouterr().err
    assert 'does not fit' in err and 'backbone.patch_embed.weight' in err
    assert dst.read_bytes() == b'previous'


@pytest.mark.parametrize('content,match', [
    (None, 'reference checkpoint not found'),
    (b'not a checkpoint', 'cannot be loaded'),
    ({'foo.weight': torch.zeros(1)}, 'not in the reference layout'),
])
def test_cli_bad_inputs(tmp_path, content, match):
    src = tmp_path / 'bad.pth'
    if isinstance(content, bytes):
        src.write_bytes(content)
    elif content is not None:
        torch.save(content, src)
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        converter.convert(str(src), str(tmp_path / 'o.pth'))


def test_unexpected_reference_key_is_named():
    state = _random_reference('t').state_dict()
    state['encoder.extra.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match="unexpected key 'encoder.extra.weight'"):
        reference_to_ours(state, source='x.pth')


def _damaged(edit):
    state = dict(_random_reference('t').state_dict())
    edit(state)
    return state


STAGE0 = 'encoder.patch_embed.layers.0.blocks.0.attn.'


@pytest.mark.parametrize('edit,match', [
    (lambda s: s.pop('encoder.patch_embed.patch_embed.proj.weight'),
     "needs 'encoder.patch_embed.patch_embed.proj.weight', missing here"),
    (lambda s: s.pop('decoder.head.weight'), "needs 'decoder.head.weight', missing here"),
    (lambda s: s.update({'decoder.head.weight': torch.tensor(1.0)}),
     r"'decoder.head.weight' has shape \(\), expected 2 dimensions"),
    (lambda s: s.update({STAGE0 + 'relative_position_bias_table': torch.zeros(5)}),
     r"relative_position_bias_table' has shape \(5,\), expected 2 dimensions"),
    (lambda s: s.update({STAGE0 + 'relative_position_index': torch.tensor(3)}),
     r'relative_position_index has shape \(\), not \(w\^3, w\^3\)'),
    # 27000 entries (a 30 kB file) used to ask for a 30^3 window's (27000, 27000) table
    (lambda s: s.update({STAGE0 + 'relative_position_index': torch.zeros(27000)}),
     r'not \(w\^3, w\^3\) of a window of w <= 16'),
    (lambda s: s.update({STAGE0 + 'relative_position_index': torch.zeros(9, 9)}),
     r'has shape \(9, 9\), not \(w\^3, w\^3\)'),
])
def test_damaged_reference_weights_are_named(tmp_path, edit, match):
    src = tmp_path / 'ref.pth'
    torch.save({'state_dict': _damaged(edit)}, src)
    with pytest.raises(ValueError, match=match):
        converter.convert(str(src), str(tmp_path / 'o.pth'))
    assert not (tmp_path / 'o.pth').exists()


def test_unusable_config_and_outputs_are_named_before_loading(tmp_path, capsys):
    src = tmp_path / 'ref.pth'
    torch.save(_random_reference('t').state_dict(), src)
    (tmp_path / 'config.txt').write_text('model = dict()\n')  # mmengine refuses the suffix
    assert converter.main([str(src), str(tmp_path / 'o.pth'), '--config',
                           str(tmp_path / 'config.txt')]) == 1
    assert 'config.txt: not a usable config' in capsys.readouterr().err
    blocker = tmp_path / 'afile'
    blocker.write_bytes(b'keep')
    for dst, message in ((blocker / 'o.pth', 'is a file, not a folder'),
                         (tmp_path, 'is a folder; name a file'),
                         (tmp_path / ('o' * 250 + '.pth'), 'the file name is too long')):
        assert converter.main([str(src), str(dst)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith('error: ') and message in err[0], err
    assert blocker.read_bytes() == b'keep'
