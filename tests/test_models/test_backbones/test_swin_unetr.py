"""The SwinUNETR backbone (MONAI's SwinUNETR wrapped for VolumeEncoderDecoder)."""
import pytest
import torch

from conftest import build_model_from_config
from segmenter3d.encoding import EMPTY_INPUT, pad_input
from segmenter3d.models.backbones import SwinUNETRBackbone
from segmenter3d.structures import VolumeData, VolumeDataSample

CONFIG = 'swinunetr/swinunetr_1xb2-3k_synthrooms-32.py'
SMALL = dict(feature_size=12, depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 2))


def _sample(labels):
    s = VolumeDataSample()
    s.gt_sem_seg = VolumeData(data=labels[None])
    return s


def test_odd_sized_room_batch_1_trains_and_every_parameter_gets_a_finite_gradient():
    """The config's model (group norm, 32^3 after padding, a 1x1x1 bottleneck) trains at
    batch 1 on a room of odd sides."""
    torch.manual_seed(0)
    model = build_model_from_config(CONFIG)
    model.init_weights()
    model.train()
    x = torch.rand(1, 4, 19, 24, 13) * 2 - 1
    labels = torch.randint(0, 30, (19, 24, 13))
    losses = model(x, [_sample(labels)], mode='loss')
    losses['decode.loss_ce'].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f'{name} got no gradient'
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f'{name} got a zero gradient'
    with torch.no_grad():
        assert model(x, mode='tensor').shape == (1, 30, 19, 24, 13)


def test_instance_norm_at_a_32_cube_fails_in_training_group_norm_does_not():
    """Why the config chooses group norm: at 32^3 the bottleneck holds one voxel."""
    x = torch.rand(1, 4, 32, 32, 32)
    with pytest.raises(ValueError, match='more than 1 spatial element'):
        SwinUNETRBackbone(norm_cfg=dict(type='IN3d'), **SMALL).train()(x)
    out = SwinUNETRBackbone(norm_cfg=dict(type='GN', num_groups=4), **SMALL).train()(x)[0]
    assert out.shape == (1, 12, 32, 32, 32)


def test_odd_sizes_are_padded_with_empty_space_and_cropped_back():
    """Known answer: an odd-sized input gives the crop of the output of that input padded to
    32 with the empty-space encoding (eval mode)."""
    torch.manual_seed(0)
    backbone = SwinUNETRBackbone(**SMALL).eval()
    x = torch.rand(2, 4, 19, 24, 13) * 2 - 1
    padded = backbone.pad_to_divisor(x)
    assert padded.shape == (2, 4, 32, 32, 32)
    assert torch.equal(padded[0, :, 19:, :, :].amax((1, 2, 3)), torch.tensor(EMPTY_INPUT))
    with torch.no_grad():
        got = backbone(x)[0]
        want = backbone.net(torch.stack([pad_input(v, (32, 32, 32)) for v in x]))
    assert got.shape == (2, 12, 19, 24, 13)
    torch.testing.assert_close(got, want[:, :, :19, :24, :13])


@pytest.mark.parametrize('norm_cfg,layer', [
    (dict(type='BN3d'), torch.nn.BatchNorm3d),
    (dict(type='IN3d'), torch.nn.InstanceNorm3d),
    (dict(type='GN', num_groups=4), torch.nn.GroupNorm),
])
def test_norm_option_reaches_the_convolutional_blocks_and_trains(norm_cfg, layer):
    torch.manual_seed(0)
    backbone = SwinUNETRBackbone(norm_cfg=norm_cfg, **SMALL)
    norms = {type(m) for m in backbone.modules()
             if isinstance(m, (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm))}
    assert norms == {layer}
    # batch 2 and a 1x1x2 bottleneck: every norm has more than one value per channel
    backbone.train()(torch.rand(2, 4, 17, 30, 40))[0].square().mean().backward()
    for name, p in backbone.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f'{name} got a zero gradient'


@pytest.mark.parametrize('kwargs,match', [
    (dict(feature_size=16), 'multiple of 12'),
    (dict(norm_cfg=dict(type='LN')), 'norm_cfg.type must be one of'),
    (dict(norm_cfg=dict(type='GN')), 'needs num_groups'),
    (dict(norm_cfg=dict(type='GN', num_groups=5)), 'must divide feature_size'),
    (dict(norm_cfg=dict(type='BN3d', num_groups=4)), 'applies to GN only'),
    (dict(pad_values=(0., )), 'pad_values has 1 entries'),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SwinUNETRBackbone(**{**SMALL, **kwargs})
