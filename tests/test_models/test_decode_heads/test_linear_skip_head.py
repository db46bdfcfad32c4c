import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS


def _head(skip=True):
    torch.manual_seed(0)
    head = MODELS.build(dict(type='LinearSkipHead', in_channels=16, num_classes=5,
                             volume_channels=4, skip=skip, ignore_index=255,
                             loss_decode=dict(type='ChunkedCrossEntropyLoss')))
    for p in head.parameters():  # non-trivial biases too
        torch.nn.init.normal_(p, std=0.5)
    return head


def _straightforward(head, tokens, volume):
    """The paper's decoder as written: linear per token, upsample, concat, linear."""
    y = head.token_cls(tokens.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
    y = F.interpolate(y, size=volume.shape[2:], mode='trilinear', align_corners=False)
    if not head.skip:
        return y
    joined = torch.cat([y, volume], 1).permute(0, 2, 3, 4, 1)
    return head.skip_cls(joined).permute(0, 4, 1, 2, 3)


@pytest.mark.parametrize('skip', [True, False])
def test_folded_head_equals_the_straightforward_decoder_values_and_gradients(skip):
    head = _head(skip)
    tokens = torch.randn(2, 16, 3, 4, 5, requires_grad=True)
    volume = torch.randn(2, 4, 24, 32, 40)
    got = head([tokens, volume])
    want = _straightforward(head, tokens, volume)
    assert got.shape == (2, 5, 24, 32, 40) and got.is_contiguous()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(got)
    params = [tokens] + list(head.parameters())
    g_got = torch.autograd.grad((got * weights).sum(), params)
    g_want = torch.autograd.grad((want * weights).sum(), params)
    for g, w in zip(g_got, g_want):
        torch.testing.assert_close(g, w, atol=1e-4, rtol=1e-4)


def test_volume_of_a_size_that_is_not_a_token_multiple():
    head = _head()
    tokens = torch.randn(1, 16, 2, 3, 2)
    volume = torch.randn(1, 4, 13, 20, 7)  # not 8x the token grid
    torch.testing.assert_close(head([tokens, volume]), _straightforward(head, tokens, volume),
                               atol=1e-5, rtol=1e-5)


def test_wrong_volume_channels_are_named():
    head = _head()
    with pytest.raises(ValueError, match='volume has 3 channels, volume_channels is 4'):
        head([torch.randn(1, 16, 2, 2, 2), torch.randn(1, 3, 16, 16, 16)])


def test_inherited_loss_and_predict_keep_the_decode_head_contract():
    """BaseDecodeHead.loss / predict call forward(inputs): the volume rides in inputs."""
    from segmenter3d.structures import VolumeData, VolumeDataSample
    head = _head()
    tokens = torch.randn(1, 16, 2, 2, 2)
    volume = torch.randn(1, 4, 16, 16, 16)
    sample = VolumeDataSample()
    labels = torch.randint(0, 5, (1, 16, 16, 16))
    sample.gt_sem_seg = VolumeData(data=labels)
    losses = head.loss([tokens, volume], [sample], train_cfg={})
    want = F.cross_entropy(_straightforward(head, tokens, volume), labels)
    torch.testing.assert_close(losses['loss_ce'], want, atol=1e-5, rtol=1e-5)
    logits = head.predict([tokens, volume], [dict(img_shape=(16, 16, 16))], test_cfg={})
    torch.testing.assert_close(logits, _straightforward(head, tokens, volume), atol=1e-5,
                               rtol=1e-5)


def test_inputs_without_a_volume_are_refused():
    with pytest.raises(ValueError, match='followed by the raw input volume'):
        _head()([torch.randn(1, 16, 2, 2, 2)])


def test_initialised_skip_head_starts_as_the_head_without_skip():
    """Identity token part of the second layer: the skip adds only a small input term."""
    torch.manual_seed(0)
    cfg = dict(type='LinearSkipHead', in_channels=16, num_classes=5, volume_channels=4,
               ignore_index=255, loss_decode=dict(type='ChunkedCrossEntropyLoss'))
    skip, plain = MODELS.build(dict(cfg, skip=True)), MODELS.build(dict(cfg, skip=False))
    skip.init_weights()
    plain.init_weights()
    plain.token_cls.load_state_dict(skip.token_cls.state_dict())
    torch.testing.assert_close(skip.skip_cls.weight[:, :5], torch.eye(5))
    assert skip.skip_cls.weight[:, 5:].abs().max() < 0.1 and (skip.skip_cls.bias == 0).all()
    tokens, volume = torch.randn(1, 16, 2, 2, 2), torch.zeros(1, 4, 16, 16, 16)
    torch.testing.assert_close(skip([tokens, volume]), plain([tokens, volume]))


@pytest.mark.parametrize('skip', [True, False])
def test_free_space_class_fixes_free_voxels_and_leaves_the_rest(skip):
    """Free voxels (tsdf channel -3) are class 0 whatever the tokens say, with no gradient
    to any parameter from them; every other voxel keeps the head's own logits."""
    from segmenter3d.models.decode_heads.linear_skip_head import FREE_SPACE_MARGIN
    torch.manual_seed(0)
    head = MODELS.build(dict(type='LinearSkipHead', in_channels=16, num_classes=5,
                             volume_channels=4, skip=skip, free_space_class=0,
                             loss_decode=dict(type='ChunkedCrossEntropyLoss')))
    tokens = torch.randn(2, 16, 3, 4, 5, requires_grad=True)
    volume = torch.rand(2, 4, 12, 16, 20) * 2 - 1
    free = torch.rand(2, 12, 16, 20) < 0.5
    volume[:, 0][free] = -3.0
    got = head([tokens, volume])
    plain = _straightforward(head, tokens, volume)
    mask = free[:, None].expand_as(got)
    torch.testing.assert_close(got[~mask], plain[~mask], atol=1e-5, rtol=1e-5)
    want_free = torch.full((5, ), -FREE_SPACE_MARGIN)
    want_free[0] = 0.
    assert torch.equal(got.permute(0, 2, 3, 4, 1)[free], want_free.expand(int(free.sum()), 5))
    # the loss of a free voxel labelled 0 is ~0 and sends nothing back
    grads = torch.autograd.grad(got[mask].sum(), [tokens] + list(head.parameters()),
                                allow_unused=True)
    assert all(g is None or g.abs().max() == 0 for g in grads)
    with pytest.raises(ValueError, match='free_space_class=5 is not a class'):
        MODELS.build(dict(type='LinearSkipHead', in_channels=16, num_classes=5,
                          free_space_class=5))
