import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import CONFIGS, build_model_from_config
from segmenter3d.encoding import pad_input
from segmenter3d.models.segmentors.volume_encoder_decoder import slide_windows
from segmenter3d.structures import VolumeData, VolumeDataSample

T_PANO = '3dseg/3dseg-t_8xb1-80k_panorooms-128.py'

SPARSE = 'sparseunet/sparseunet_1xb2-3k_synthrooms-32.py'
SPARSE_SMALL = dict(base_channels=8, encoder_channels=(8, 16, 16), decoder_channels=(16, 8, 8),
                    encoder_blocks=(1, 1, 1), decoder_blocks=(1, 1, 1))
SWIN = 'swinunetr/swinunetr_1xb2-3k_synthrooms-32.py'
SWIN_SMALL = dict(depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1))
# Every segmentor configuration we register, for the forward/backward smoke test.
SMOKE_CONFIGS = [
    (T_PANO, {}),
    ('3dseg/3dseg-b_8xb1-80k_panorooms-128.py', {}),
    ('3dseg/3dseg-m_8xb1-80k_panorooms-128.py', {}),
    ('3dseg/3dseg-l_panorooms.py', {}),
    (T_PANO, dict(decode_head=dict(skip=False))),
    (T_PANO, dict(backbone=dict(with_cp=True))),
    (T_PANO, dict(backbone=dict(fused_attention=False))),
    ('unet3d/unet3d_synthrooms.py', {}),
    # the baselines' norm options (``_delete_`` replaces the config's norm_cfg, as
    # ``--cfg-options model.backbone.norm_cfg._delete_=True ...`` does); the sparse U-Net and
    # SwinUNETR at reduced sizes: every voxel of this input is active, SwinUNETR pads it to
    # 64x64x96, and at their config sizes each takes 20 s here
    ('unet3d/unet3d_synthrooms.py', dict(backbone=dict(norm_cfg=dict(type='IN3d')))),
    ('unet3d/unet3d_synthrooms.py', dict(backbone=dict(norm_cfg=dict(type='GN', num_groups=8)))),
] + [(SPARSE, dict(backbone=dict(SPARSE_SMALL, norm_cfg=dict(_delete_=True, **norm)),
                   decode_head=dict(in_channels=8)))
     for norm in (dict(type='BN1d'), dict(type='GN', num_groups=4), dict(type='LN'))
     ] + [(SWIN, dict(backbone=SWIN_SMALL))]  # its other norms: test_swin_unetr.py


def _cfg(path=T_PANO):
    return Config.fromfile(f'{CONFIGS}/{path}')


def _sample(labels):
    s = VolumeDataSample(metainfo=dict(room_id='r0'))
    s.gt_sem_seg = VolumeData(data=labels[None])
    return s


@pytest.mark.parametrize('path,override', SMOKE_CONFIGS)
def test_forward_backward_odd_size_all_params_get_finite_grads(path, override):
    torch.manual_seed(0)
    cfg = _cfg(path)
    cfg.merge_from_dict(dict(model=override))
    # no stochastic depth here: a dropped residual branch rightly gets no gradient
    if cfg.model.backbone.type == 'SwinTransformer3D':
        cfg.merge_from_dict({'model.backbone.drop_path_rate': 0.})
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    x = torch.rand(1, 4, 40, 56, 72) * 2 - 1
    labels = torch.randint(0, 30, (40, 56, 72))
    labels[:5] = 255
    losses = model(x, [_sample(labels)], mode='loss')
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg'}
    losses['decode.loss_ce'].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f'{name} got no gradient'
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f'{name} got a zero gradient'
    assert model(x, mode='tensor').shape == (1, 30, 40, 56, 72)


def test_loss_ignores_255_and_equals_cross_entropy():
    torch.manual_seed(0)
    model = build_model_from_config(T_PANO).eval()
    x = torch.rand(1, 4, 16, 16, 16)
    labels = torch.randint(0, 30, (16, 16, 16))
    labels[:8] = 255
    loss = model(x, [_sample(labels)], mode='loss')['decode.loss_ce']
    logits = model(x, mode='tensor')
    expected = torch.nn.functional.cross_entropy(logits, labels[None], ignore_index=255)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize('mode', ['whole', 'slide'])
def test_predict_crops_batch_padding_and_fills_samples(mode):
    test_cfg = dict(mode=mode, crop_size=16, stride=8) if mode == 'slide' else dict(mode=mode)
    model = build_model_from_config(T_PANO, test_cfg=test_cfg).eval()
    vols = [torch.rand(4, 20, 24, 16), torch.rand(4, 12, 30, 16)]
    samples = [_sample(torch.zeros(v.shape[1:], dtype=torch.long)) for v in vols]
    data = model.data_preprocessor(dict(inputs=vols, data_samples=samples))
    assert data['inputs'].shape == (2, 4, 20, 30, 16)
    # empty-space padding in the official encoding: tsdf -3, colour -1, label 255
    assert (data['inputs'][1, 0, 12:] == -3).all() and (data['inputs'][1, 1:, 12:] == -1).all()
    assert (data['data_samples'][1].gt_sem_seg.data[:, 12:] == 255).all()
    with torch.no_grad():
        out = model(**data, mode='predict')
        logits = model.inference(data['inputs'])
    assert out[0].pred_sem_seg.shape == (20, 24, 16)
    assert out[1].pred_sem_seg.shape == (12, 30, 16)
    torch.testing.assert_close(out[1].pred_sem_seg.data[0], logits[1, :, :12].argmax(0))
    if mode == 'whole':
        assert out[1].seg_logits.data.shape == (30, 12, 30, 16)
    else:  # slide keeps no room-sized logits
        assert 'seg_logits' not in out[1]


def test_slide_pads_small_rooms_to_the_window_with_empty_space():
    """A room smaller than the window is seen as the training crop: padded with empty space
    to the window, never run on a clipped window."""
    torch.manual_seed(0)
    whole = build_model_from_config(T_PANO, test_cfg=dict(mode='whole'))
    slide = build_model_from_config(T_PANO,
                                    test_cfg=dict(mode='slide', crop_size=64, stride=32))
    whole.init_weights()
    slide.load_state_dict(whole.state_dict())
    whole.eval(), slide.eval()
    x = torch.rand(1, 4, 40, 56, 64)
    padded = torch.stack([pad_input(x[0], (64, 64, 64))])
    assert (padded[0, 0, 40:] == -3).all() and (padded[0, 1:, :, 56:] == -1).all()
    with torch.no_grad():
        want = whole.inference(padded)[:, :, :40, :56]
        torch.testing.assert_close(slide.inference(x), want)
        torch.testing.assert_close(slide.slide_labels(x).long(), want.argmax(1))


@pytest.mark.parametrize('stride', [8, 5, 16, (3, 8, 16)])
def test_slide_labels_hold_one_slab_and_equal_the_logits_argmax(stride):
    """The window-deep buffer moved up in place gives the labels of the full-room logits, for
    strides that move it by half, by odd steps, by a whole window, and a clamped last window."""
    torch.manual_seed(1)
    model = build_model_from_config(T_PANO,
                                    test_cfg=dict(mode='slide', crop_size=16,
                                                  stride=stride)).eval()
    model.init_weights()
    x = torch.rand(2, 4, 44, 24, 16)  # the last window start along the first axis clamped
    with torch.no_grad():
        labels = model.slide_labels(x)
        assert labels.dtype == torch.uint8  # 30 classes: a byte per voxel
        torch.testing.assert_close(labels.long(), model.slide_inference(x).argmax(1))


def test_a_stride_beyond_the_window_is_refused():
    with pytest.raises(ValueError, match=r'test_cfg.stride \(16, 16, 16\) must not exceed '
                                         r'test_cfg.crop_size \(8, 8, 8\)'):
        build_model_from_config(T_PANO,
                                test_cfg=dict(mode='slide', crop_size=8, stride=16))


def test_slide_averages_overlapping_windows():
    """With a per-voxel model, averaging overlapping windows must give the whole answer."""
    model = build_model_from_config(T_PANO,
                                    test_cfg=dict(mode='slide', crop_size=(16, 24, 8),
                                                  stride=(8, 10, 8)))
    weight = torch.randn(30, 4)
    model.encode_decode = lambda v, metas=None: torch.einsum('kc,bcdhw->bkdhw', weight, v)
    x = torch.rand(1, 4, 37, 50, 19)
    torch.testing.assert_close(model.inference(x), torch.einsum('kc,bcdhw->bkdhw', weight, x))


def test_training_tiles_are_independent_block_forwards_and_overlaps_average():
    """train_cfg tiles: each tile's logits are the model run on that block alone (its own
    context, as sliding-window testing sees it); the shifted last tile's overlap averages."""
    torch.manual_seed(0)
    model = build_model_from_config(T_PANO,
                                    train_cfg=dict(mode='tiles', crop_size=(16, 16, 8)))
    model.eval()  # no drop path: tile and block forwards must agree exactly
    x = torch.rand(2, 4, 24, 16, 8, requires_grad=True)
    logits = model.train_logits(x)
    first, last = model.encode_decode(x[:, :, :16]), model.encode_decode(x[:, :, 8:])
    torch.testing.assert_close(logits[:, :, :8], first[:, :, :8])
    torch.testing.assert_close(logits[:, :, 16:], last[:, :, 8:])
    torch.testing.assert_close(logits[:, :, 8:16], (first[:, :, 8:] + last[:, :, :8]) / 2)
    # not the whole-volume forward: the deep stages see one block, not the room
    assert not torch.allclose(logits, model.encode_decode(x), atol=1e-4)
    logits.sum().backward()
    assert x.grad.abs().min() > 0  # every voxel reaches the loss


def test_slide_windows_cover_every_voxel_once_or_more():
    windows = slide_windows((37, 50, 19), (16, 24, 8), (8, 10, 8))
    seen = torch.zeros(37, 50, 19, dtype=torch.int)
    for w in windows:
        assert all(sl.stop - sl.start == c for sl, c in zip(w, (16, 24, 8)))
        seen[w] += 1
    assert seen.min() >= 1
    # mmseg's grid: ceil((size - crop) / stride) + 1 starts per axis, the last one moved back
    # to end at the volume's end
    starts = [sorted({w[axis].start for w in windows}) for axis in range(3)]
    assert starts == [[0, 8, 16, 21], [0, 10, 20, 26], [0, 8, 11]] and len(windows) == 48
    assert slide_windows((10, 10, 10), (16, 16, 16), (8, 8, 8)) == [(slice(0, 10), ) * 3]


@pytest.mark.parametrize('override,match', [
    (dict(backbone=dict(arch='q')), 'unknown arch'),
    (dict(decode_head=dict(in_channels=192)), 'decode_head.in_channels=192'),
    (dict(backbone=dict(in_channels=5), decode_head=dict(volume_channels=5)),
     'backbone.in_channels=5 but the data has 4 channels'),
    (dict(decode_head=dict(volume_channels=3)), 'decode_head.volume_channels=3'),
    (dict(test_cfg=dict(_delete_=True, mode='slide')), 'test_cfg.crop_size'),
    (dict(test_cfg=dict(mode='tiles')), 'test_cfg.mode'),
    (dict(train_cfg=dict(mode='tiles')), 'train_cfg.crop_size'),
    (dict(train_cfg=dict(mode='slide')), 'train_cfg.mode'),
    (dict(train_cfg=dict(crop=8)), 'train_cfg has unknown keys'),
])
def test_bad_config_fails_at_build_naming_the_field(override, match):
    cfg = _cfg()
    cfg.merge_from_dict(dict(model=override))
    with pytest.raises(ValueError, match=match.replace('(', r'\(').replace(')', r'\)')):
        MODELS.build(cfg.model)


def test_preprocessor_rejects_wrong_channel_count():
    model = build_model_from_config(T_PANO)
    with pytest.raises(ValueError, match=r'expected \(4, D, H, W\)'):
        model.data_preprocessor(dict(inputs=[torch.rand(3, 8, 8, 8)]))


def test_preprocessor_size_divisor_pads_to_multiples_and_records_each_room():
    from segmenter3d.models.data_preprocessor import VolumeDataPreprocessor
    torch.manual_seed(0)
    vols = [torch.rand(4, 20, 24, 16), torch.rand(4, 12, 30, 17)]
    samples = [_sample(torch.randint(0, 30, v.shape[1:])) for v in vols]
    labels = [s.gt_sem_seg.data.clone() for s in samples]
    data = VolumeDataPreprocessor(size_divisor=16)(dict(inputs=vols, data_samples=samples))
    assert data['inputs'].shape == (2, 4, 32, 32, 32)
    for i, (vol, sample) in enumerate(zip(vols, data['data_samples'])):
        X, Y, Z = vol.shape[1:]
        assert sample.metainfo['padded_from'] == (X, Y, Z)
        assert sample.metainfo['batch_input_shape'] == (32, 32, 32)
        torch.testing.assert_close(data['inputs'][i, :, :X, :Y, :Z], vol, rtol=0, atol=0)
        pad = torch.ones(32, 32, 32, dtype=torch.bool)
        pad[:X, :Y, :Z] = False
        padded = data['inputs'][i]
        assert (padded[0][pad] == -3).all() and (padded[1:][:, pad] == -1).all()
        assert torch.equal(sample.gt_sem_seg.data[:, :X, :Y, :Z], labels[i])
        assert (sample.gt_sem_seg.data[0][pad] == 255).all()


def test_unet3d_baseline_odd_sizes_and_gradients():
    torch.manual_seed(0)
    model = build_model_from_config('unet3d/unet3d_synthrooms.py')
    model.init_weights()
    model.train()
    x = torch.rand(2, 4, 19, 24, 13)
    labels = torch.randint(0, 30, (2, 19, 24, 13))
    losses = model(x, [_sample(labels[0]), _sample(labels[1])], mode='loss')
    losses['decode.loss_ce'].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f'{name} got a zero gradient'
    assert model(x, mode='tensor').shape == (2, 30, 19, 24, 13)
    with pytest.raises(ValueError, match='num_levels'):
        build_model_from_config('unet3d/unet3d_synthrooms.py', backbone=dict(
            type='UNet3D', num_levels=1))


def test_bfloat16_autocast_trains_on_cpu():
    """--amp: mixed precision forward and backward; the loss itself stays float32."""
    torch.manual_seed(0)
    model = build_model_from_config(T_PANO, train_cfg=dict())
    model.train()
    x = torch.rand(1, 4, 24, 32, 40) * 2 - 1
    labels = torch.randint(0, 30, (24, 32, 40))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model(x, [_sample(labels)], mode='loss')
        with torch.no_grad():  # the network itself does run in bfloat16
            assert model(x, mode='tensor').dtype == torch.bfloat16
    assert losses['decode.loss_ce'].dtype == torch.float32
    losses['decode.loss_ce'].backward()
    params = [p for p in model.parameters() if p.requires_grad]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
    mixed = torch.cat([p.grad.flatten() for p in params])
    # close to the float32 loss and gradient (bfloat16 keeps 8 bits of mantissa)
    model.zero_grad()
    full = model(x, [_sample(labels)], mode='loss')['decode.loss_ce']
    full.backward()
    exact = torch.cat([p.grad.flatten() for p in params])
    cosine = torch.nn.functional.cosine_similarity(mixed, exact, dim=0).item()
    rel = abs(losses['decode.loss_ce'].item() - full.item()) / full.item()
    print(f'bfloat16 autocast: loss off by {rel:.2e} of float32, gradient cosine {cosine:.6f}')
    assert rel < 0.01 and cosine > 0.99
