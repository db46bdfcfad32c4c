import pytest
import torch

from conftest import build_model_from_config
from segmenter3d.models.backbones import SwinTransformer3D
from segmenter3d.models.backbones.swin3d_blocks import SwinBlock3D
from segmenter3d.models.backbones.window_layout import relative_position_index

EXPECTED_PARAMS = {'t': 375_036, 'b': 618_966, 'm': 1_549_524, 'l': 4_430_544}


@pytest.mark.parametrize('arch', ['t', 'b', 'm', 'l'])
def test_parameter_count_matches_paper_table(arch):
    model = build_model_from_config(f'3dseg/3dseg-{arch}_8xb1-80k_panorooms-128.py')
    learned = sum(p.numel() for p in model.parameters())
    assert learned == EXPECTED_PARAMS[arch]


def test_arch_aliases_and_custom_dict():
    assert SwinTransformer3D('tiny').arch == SwinTransformer3D('t').arch
    custom = SwinTransformer3D(dict(embed_dims=32, depths=[1, 1, 1], num_heads=[2, 2, 4]))
    assert custom.stage_channels == [32, 64, 128]
    assert custom.size_divisor == (16, 16, 16)


@pytest.mark.parametrize('arch,match', [
    ('x', 'unknown arch'),
    (dict(embed_dims=48, depths=[2, 2]), 'exactly the keys'),
    (dict(embed_dims=48, depths=[2, 2], num_heads=[3]), 'same length'),
    (dict(embed_dims=48, depths=[2, 2], num_heads=[5, 5]), 'divisible by num_heads'),
])
def test_bad_arch_raises_named_error(arch, match):
    with pytest.raises(ValueError, match=match):
        SwinTransformer3D(arch)


def test_bad_input_shape_names_channels():
    with pytest.raises(ValueError, match=r'\(B, 4, D, H, W\)'):
        SwinTransformer3D('t')(torch.zeros(1, 3, 8, 8, 8))


def test_odd_input_sizes_and_out_indices():
    model = SwinTransformer3D('t', out_indices=(0, 1)).eval()
    outs = model(torch.rand(2, 4, 40, 56, 72))
    # padded to multiples of 8: 40, 56, 72 -> tokens 10x14x18, then 5x7x9
    assert [tuple(o.shape) for o in outs] == [(2, 48, 10, 14, 18), (2, 96, 5, 7, 9)]
    outs = model(torch.rand(1, 4, 33, 17, 9))  # 40, 24, 16 after padding
    assert [tuple(o.shape) for o in outs] == [(1, 48, 10, 6, 4), (1, 96, 5, 3, 2)]


def test_fused_attention_equals_explicit_softmax():
    torch.manual_seed(0)
    fused = SwinTransformer3D('t', drop_path_rate=0.).eval()
    fused.init_weights()
    plain = SwinTransformer3D('t', drop_path_rate=0., fused_attention=False).eval()
    plain.load_state_dict(fused.state_dict())
    x = torch.rand(1, 4, 72, 40, 48)
    torch.testing.assert_close(fused(x)[0], plain(x)[0], atol=1e-5, rtol=1e-5)


def _brute_force_shifted_attention(block, x):
    """Full attention over all tokens; masked unless two tokens share a shifted window."""
    attn = block.attn
    B, D, H, W, C = x.shape
    # an axis not longer than the window is one unshifted window (Video Swin's rule)
    w = tuple(min(n, wi) for n, wi in zip((D, H, W), block.window_size))
    s = tuple(0 if n <= wi else si for n, wi, si in zip((D, H, W), block.window_size,
                                                        block.shift_size))
    grid = torch.stack(torch.meshgrid(torch.arange(D), torch.arange(H), torch.arange(W),
                                      indexing='ij'), -1).view(-1, 3)
    rolled = (grid - torch.tensor(s)) % torch.tensor([D, H, W])
    window_id = rolled // torch.tensor(w)
    wrapped = grid < torch.tensor(s)  # tokens that the cyclic shift moved to the far end
    same = ((window_id[:, None] == window_id[None]).all(-1)
            & (wrapped[:, None] == wrapped[None]).all(-1))
    # true relative offsets of token coordinates, looked up in the full window's table
    t = block.window_size
    rel = rolled[:, None] - rolled[None] + torch.tensor(t) - 1
    index = (rel[..., 0] * (2 * t[1] - 1) * (2 * t[2] - 1) + rel[..., 1] * (2 * t[2] - 1) +
             rel[..., 2])
    index = index.where(same, 0)  # pairs in different windows are masked anyway
    bias = attn.relative_position_bias_table[index].permute(2, 0, 1)  # (nH, T, T)
    h = block.norm1(x).view(B, -1, C)
    nH = attn.num_heads
    q, k, v = attn.qkv(h).view(B, -1, 3, nH, C // nH).permute(2, 0, 3, 1, 4)
    logits = q @ k.transpose(-1, -2) * (C // nH)**-0.5 + bias
    logits = logits.masked_fill(~same, float('-inf'))
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(B, -1, C)
    return attn.proj(out).view(B, D, H, W, C)


@pytest.mark.parametrize('fused', [True, False])
def test_shifted_window_attention_matches_brute_force(fused):
    torch.manual_seed(1)
    block = SwinBlock3D(12, 3, window_size=(4, 4, 4), shift=True, fused=fused).eval()
    torch.nn.init.normal_(block.attn.relative_position_bias_table, std=1.)
    x = torch.randn(2, 8, 12, 4, 12)  # the last axis fits one window: not shifted
    expected = _brute_force_shifted_attention(block, x)
    torch.testing.assert_close(block._attention(x), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('fused', [True, False])
@pytest.mark.parametrize('size', [
    (3, 8, 8),  # clipped on the leading axis only (where Video Swin's slice is right)
    (8, 3, 8),  # the middle axis
    (8, 8, 3),  # the last axis (a room's height in stage-2 tokens)
    (8, 2, 3),  # two axes
    (3, 2, 3),  # all three
])
def test_clipped_windows_use_true_relative_offsets(size, fused):
    torch.manual_seed(2)
    block = SwinBlock3D(12, 3, window_size=(4, 4, 4), shift=True, fused=fused).eval()
    torch.nn.init.normal_(block.attn.relative_position_bias_table, std=1.)
    x = torch.randn(1, *size, 12)
    torch.testing.assert_close(block._attention(x), _brute_force_shifted_attention(block, x),
                               atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('window', [(4, 2, 4), (4, 4, 3), (2, 3, 3)])
def test_clipped_index_differs_from_video_swins_slice_off_the_leading_axis(window):
    full = relative_position_index((4, 4, 4))
    n = window[0] * window[1] * window[2]
    exact = relative_position_index(window, (4, 4, 4))
    assert not torch.equal(exact, full[:n, :n])  # the slice reads wrong offsets here
    # the exact index of a token pair is its coordinate offset in the (7, 7, 7) table
    coords = torch.stack(torch.meshgrid(*[torch.arange(w) for w in window], indexing='ij'),
                         -1).view(-1, 3)
    d = coords[:, None] - coords[None] + 3
    torch.testing.assert_close(exact, d[..., 0] * 49 + d[..., 1] * 7 + d[..., 2])


def test_clipped_leading_axis_equals_video_swins_slice():
    full = relative_position_index((4, 4, 4))
    assert torch.equal(relative_position_index((2, 4, 4), (4, 4, 4)), full[:32, :32])


def test_relative_position_index_is_video_swins():
    index = relative_position_index((2, 2, 2))
    assert index.shape == (8, 8) and index.max() == 3**3 - 1
    # token 0 = (0,0,0), token 7 = (1,1,1): offsets -1 -> index 0; +1 -> the last entry
    assert index[0, 7] == 0 and index[7, 0] == 26 and index[3, 3] == 13


def test_with_cp_gives_same_gradients():
    torch.manual_seed(0)
    a = SwinTransformer3D('t', drop_path_rate=0.)
    b = SwinTransformer3D('t', drop_path_rate=0., with_cp=True)
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 4, 24, 24, 40)
    a(x)[0].square().sum().backward()
    b(x)[0].square().sum().backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, atol=1e-5, rtol=1e-4, msg=name)


def _frozen(module):
    return not module.training and not any(p.requires_grad for p in module.parameters())


def test_frozen_stages_follow_mmseg_swin():
    # 0: the patch embedding only
    model = SwinTransformer3D('t', frozen_stages=0).train()
    assert _frozen(model.patch_embed)
    assert model.stages[0].training and all(p.requires_grad for p in model.stages[0].parameters())
    # 1: also stage 0 (and its output norm when it is returned)
    model = SwinTransformer3D('t', frozen_stages=1, out_indices=(0, 1)).train()
    assert _frozen(model.patch_embed) and _frozen(model.stages[0]) and _frozen(model.norm0)
    assert model.stages[1].training and model.norm1.weight.requires_grad
    # all stages: the closing norms too, and train() cannot unfreeze them
    model = SwinTransformer3D('t', frozen_stages=2).train()
    assert all(_frozen(m) for m in (model.stages[1], model.norm1, model.final_norm))
    assert not any(p.requires_grad for p in model.parameters())


def test_drop_path_rate_is_used():
    model = SwinTransformer3D('l', drop_path_rate=0.3)
    rates = [b.drop_path.drop_prob for s in model.stages for b in s.blocks
             if hasattr(b.drop_path, 'drop_prob')]
    # linear from 0 over the 12 blocks of both stages (the first, at rate 0, has none)
    assert rates == pytest.approx(torch.linspace(0, 0.3, 12).tolist()[1:])


def test_init_cfg_pretrained_loads_our_and_reference_layout(tmp_path):
    from segmenter3d.models.backbones.swin3d_convert import ours_to_reference
    torch.manual_seed(0)
    src = build_model_from_config('3dseg/3dseg-t_8xb1-80k_panorooms-128.py')
    src.init_weights()
    want = src.backbone.state_dict()
    ours = tmp_path / 'ours.pth'
    torch.save({'state_dict': src.state_dict()}, ours)
    ref = tmp_path / 'ref.pth'
    torch.save({'state_dict': ours_to_reference(src.state_dict())}, ref)
    for path, prefix in ((ours, 'backbone.'), (ours, None), (ref, None)):
        model = SwinTransformer3D('t', init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                                     prefix=prefix))
        model.init_weights()
        for k, v in model.state_dict().items():
            torch.testing.assert_close(v, want[k])


def test_init_cfg_pretrained_refuses_a_checkpoint_that_does_not_fit(tmp_path):
    src = SwinTransformer3D('b')
    path = tmp_path / 'b.pth'
    torch.save({'state_dict': src.state_dict()}, path)
    model = SwinTransformer3D('t', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ValueError, match=r'b\.pth: does not fit.*unexpected keys'):
        model.init_weights()
    model = SwinTransformer3D('t', init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                                 prefix='teacher.'))
    with pytest.raises(ValueError, match="no keys start with init_cfg.prefix 'teacher.'"):
        model.init_weights()


def test_pretrained_is_a_deprecated_alias_of_init_cfg(tmp_path):
    path = tmp_path / 't.pth'
    torch.save({'state_dict': SwinTransformer3D('t').state_dict()}, path)
    with pytest.warns(DeprecationWarning, match='pretrained is deprecated'):
        model = SwinTransformer3D('t', pretrained=str(path))
    assert model.init_cfg == dict(type='Pretrained', checkpoint=str(path))
    with pytest.raises(ValueError, match='cannot both be set'):
        SwinTransformer3D('t', pretrained=str(path), init_cfg=dict(type='Pretrained',
                                                                   checkpoint=str(path)))
