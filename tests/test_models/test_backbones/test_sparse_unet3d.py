"""SparseUNet3D (mmdet3d's MinkUNetBackbone on spconv) and the spconv CPU workaround."""
import pytest
import torch
import torch.nn.functional as F

from conftest import build_model_from_config
from segmenter3d.models.backbones import SparseUNet3D, spconv_cpu
from segmenter3d.structures import VolumeData, VolumeDataSample

CONFIG = 'sparseunet/sparseunet_1xb2-3k_synthrooms-32.py'
SMALL = dict(base_channels=8, encoder_channels=(8, 16), decoder_channels=(16, 8),
             encoder_blocks=(1, 1), decoder_blocks=(1, 1))


def _room(batch, size, free_share=0.6, seed=0):
    """(B, 4, *size) inputs in network encoding with a share of free voxels (tsdf -3, colour
    -1) and (B, *size) labels: void where free, random classes elsewhere."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 4, *size, generator=g) * 2 - 1
    free = torch.rand(batch, *size, generator=g) < free_share
    x.permute(0, 2, 3, 4, 1)[free] = -1.0
    x[:, 0][free] = -3.0
    labels = torch.randint(1, 30, (batch, *size), generator=g)
    labels[free] = 0
    return x, labels, free


def _samples(labels):
    out = []
    for lab in labels:
        s = VolumeDataSample()
        s.gt_sem_seg = VolumeData(data=lab[None])
        out.append(s)
    return out


def test_workaround_makes_cpu_backward_work_and_is_pinned(monkeypatch):
    """Without the workaround a CPU-only torch fails in spconv's backward (it asks CUDA for
    its stream first); with it, forward and backward run. Another version is left alone."""
    import spconv
    import spconv.pytorch as spconv_torch
    from spconv.pytorch import ops
    if torch.cuda.is_available():
        pytest.skip('the workaround applies to CPU-only torch')
    spconv_cpu.import_spconv()
    patched = ops.get_current_stream
    assert getattr(patched, spconv_cpu._PATCH_MARK) and patched() == 0
    assert spconv_cpu.patch_spconv_cpu_backward(spconv)  # idempotent

    conv = spconv_torch.SubMConv3d(2, 3, 3, padding=1, bias=False, indice_key='k')
    indices = torch.tensor([[0, 1, 1, 1], [0, 1, 2, 1], [0, 2, 2, 2]], dtype=torch.int32)
    feats = torch.randn(3, 2, requires_grad=True)

    def backward():
        x = spconv_torch.SparseConvTensor(feats, indices, [4, 4, 4], 1)
        conv(x).features.sum().backward()

    # the library's own function (the original, unpatched) breaks the CPU backward
    monkeypatch.setattr(ops, 'get_current_stream', spconv_torch.cppcore.get_current_stream)
    with pytest.raises((AssertionError, RuntimeError), match='(?i)cuda'):
        backward()
    monkeypatch.setattr(ops, 'get_current_stream', patched)
    backward()
    assert torch.isfinite(feats.grad).all() and feats.grad.abs().sum() > 0

    # another spconv version: not patched, and the warning says why
    monkeypatch.setattr(ops, 'get_current_stream', spconv_torch.cppcore.get_current_stream)
    monkeypatch.setattr(spconv, '__version__', '2.4.0')
    with pytest.warns(UserWarning, match=r'spconv 2\.4\.0 .* checked on spconv 2\.3\.8 only'):
        assert not spconv_cpu.patch_spconv_cpu_backward(spconv)
    assert ops.get_current_stream is spconv_torch.cppcore.get_current_stream


def test_submanifold_conv_equals_dense_masked_conv3d_values_and_gradients():
    """Known answer: a SubM 3x3x3 layer on the voxels the backbone hands the network equals
    torch's conv3d on the dense grid with zeros at free voxels, read at the active voxels
    (spconv's weight is (out, kd, kh, kw, in)); so do the CPU backward's gradients (through
    the workaround) for the inputs, the weight and the bias."""
    import spconv.pytorch as spconv_torch
    spconv_cpu.import_spconv()
    torch.manual_seed(0)
    x, _, free = _room(2, (7, 9, 6), free_share=0.7)
    conv = spconv_torch.SubMConv3d(4, 5, 3, padding=1, bias=True)
    torch.nn.init.normal_(conv.weight)
    torch.nn.init.normal_(conv.bias)
    sparse = SparseUNet3D(**SMALL).sparse_input(x)
    sparse.features.requires_grad_()
    out = conv(sparse)
    assert torch.equal(out.indices, sparse.indices)  # submanifold: same voxels
    idx = out.indices.long()
    at = (idx[:, 0], idx[:, 1], idx[:, 2], idx[:, 3])
    active = ~free
    # the voxels handed to the network are exactly the non-free ones, with their inputs
    assert len(idx) == int(active.sum()) and active[at].all()
    torch.testing.assert_close(sparse.features, x.permute(0, 2, 3, 4, 1)[at])

    dense_x = x.clone().requires_grad_()
    weight = conv.weight.detach().permute(0, 4, 1, 2, 3).clone().requires_grad_()
    bias = conv.bias.detach().clone().requires_grad_()
    want = F.conv3d(dense_x * active[:, None], weight, bias, padding=1)
    want = want.permute(0, 2, 3, 4, 1)[at]
    torch.testing.assert_close(out.features, want, atol=1e-5, rtol=1e-5)
    upstream = torch.randn_like(want)
    (out.features * upstream).sum().backward()
    (want * upstream).sum().backward()
    torch.testing.assert_close(sparse.features.grad, dense_x.grad.permute(0, 2, 3, 4, 1)[at],
                               atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(conv.weight.grad.permute(0, 4, 1, 2, 3), weight.grad,
                               atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(conv.bias.grad, bias.grad, atol=1e-4, rtol=1e-4)


def test_odd_sized_rooms_forward_backward_every_parameter_gets_a_finite_gradient():
    torch.manual_seed(0)
    model = build_model_from_config(CONFIG)
    model.init_weights()
    model.train()
    x, labels, free = _room(2, (19, 24, 13))
    losses = model(x, _samples(labels), mode='loss')
    losses['decode.loss_ce'].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f'{name} got no gradient'
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f'{name} got a zero gradient'
    model.eval()
    with torch.no_grad():
        logits = model(x, mode='tensor')
    assert logits.shape == (2, 30, 19, 24, 13)
    assert (logits.argmax(1)[free] == 0).all()  # free space is void by construction


def test_free_voxels_do_not_reach_the_features_and_samples_are_independent():
    """Colour written into free voxels changes nothing; a batch whose last sample is all free
    space gives that sample zero features and the first the same as alone (eval mode)."""
    torch.manual_seed(0)
    backbone = SparseUNet3D(**SMALL).eval()
    x, _, free = _room(2, (11, 10, 9))
    with torch.no_grad():
        out = backbone(x)[0]
        assert out.shape == (2, 8, 11, 10, 9)
        assert (out.permute(0, 2, 3, 4, 1)[free] == 0).all()
        assert out.permute(0, 2, 3, 4, 1)[~free].abs().sum(1).gt(0).float().mean() > 0.9
        noisy = x.clone()
        noisy[:, 1:].masked_scatter_(free[:, None].expand(-1, 3, -1, -1, -1),
                                     torch.rand(int(free.sum()) * 3))
        torch.testing.assert_close(backbone(noisy)[0], out)
        batch = x.clone()
        batch[1, 0] = -3.0  # the last sample holds nothing but free space
        both = backbone(batch)[0]
        torch.testing.assert_close(both[0], backbone(x[:1])[0][0], atol=1e-5, rtol=1e-5)
        assert (both[1] == 0).all()
        assert (backbone(torch.full((1, 4, 5, 6, 7), -3.0))[0] == 0).all()


def test_sparse_grid_is_padded_to_whole_strides():
    backbone = SparseUNet3D(**SMALL)
    x, _, _ = _room(1, (19, 24, 13))
    assert backbone.grid_divisor == 4
    assert list(backbone.sparse_input(x).spatial_shape) == [20, 24, 16]


@pytest.mark.parametrize('norm_cfg', [dict(type='GN', num_groups=4), dict(type='LN')])
def test_norm_option_replaces_every_norm(norm_cfg):
    backbone = SparseUNet3D(norm_cfg=norm_cfg, **SMALL)
    kinds = {type(m) for m in backbone.modules()
             if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.GroupNorm, torch.nn.LayerNorm))}
    assert kinds == {torch.nn.GroupNorm if norm_cfg['type'] == 'GN' else torch.nn.LayerNorm}
    x, _, _ = _room(2, (9, 8, 7))
    backbone.train()
    backbone(x)[0].square().sum().backward()
    for name, p in backbone.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f'{name} got a zero gradient'


@pytest.mark.parametrize('kwargs,match', [
    (dict(norm_cfg=dict(type='IN3d')), 'norm_cfg.type must be one of'),
    (dict(norm_cfg=dict(type='GN', num_groups=3)), 'does not fit a layer of 8 channels'),
    (dict(decoder_channels=(16, )), 'one entry per stage'),
    (dict(block_type='wide'), 'block_type'),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SparseUNet3D(**{**SMALL, **kwargs})


def test_wrong_input_shape_is_named():
    backbone = SparseUNet3D(**SMALL)
    with pytest.raises(ValueError, match=r'expects input of shape \(B, 4, D, H, W\)'):
        backbone(torch.zeros(1, 3, 4, 4, 4))
