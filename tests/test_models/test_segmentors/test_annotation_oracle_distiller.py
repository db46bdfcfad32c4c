"""AnnotationOracleDistiller: the label panoramas as the teacher."""
import math

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS
from test_pano_distiller import room_batch

from conftest import CONFIGS, PANO
from segmenter3d.encoding import input_tsdf

K = 30
EPS = 0.1


def build(**kw):
    cfg = Config.fromfile(f'{CONFIGS}/3dseg/3dseg-t_synthrooms.py').model
    cfg.backbone.drop_path_rate = 0.
    cfg.update(type='AnnotationOracleDistiller',
               raycaster=dict(type='TSDFRaycaster', height=PANO[0], width=PANO[1]),
               distill_loss=dict(type='PanoramicKDLoss', tau=1.0, class_mean=False), **kw)
    cfg.test_cfg = dict(mode='whole')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def smoothed_log_target(labels):
    """log((1 - eps) onehot + eps / K) per label, written out (float64)."""
    target = torch.full((len(labels), K), EPS / K, dtype=torch.float64)
    target[torch.arange(len(labels)), labels] += 1 - EPS
    return target.log()


def test_teacher_logits_are_the_smoothed_labels_resized_by_nearest_neighbour():
    model = build(smoothing=EPS)
    _, samples = room_batch(0)
    half = torch.randint(0, K, (2, PANO[0] // 2, PANO[1] // 2), dtype=torch.uint8)
    half[1, 0, :3] = 255
    samples[0].gt_panorama = half
    for view in (0, 1):
        logits = model.teacher_logits(samples[0], 'cpu', view=view)
        assert logits.shape == (K, *PANO)
        labels = half[view].long().repeat_interleave(2, 0).repeat_interleave(2, 1)
        known = labels != 255
        rows = logits.permute(1, 2, 0)[known].double()
        torch.testing.assert_close(rows, smoothed_log_target(labels[known]), rtol=0, atol=1e-6)
        # softmax gives the smoothed target back; the top class is above one half
        assert rows.softmax(1).amax(1).min() == pytest.approx(1 - EPS + EPS / K)
        unlabelled = logits.permute(1, 2, 0)[~known]
        assert (unlabelled == 0).all() and len(unlabelled) == (3 if view else 0) * 4
        valid = model.teacher_valid(logits.flatten(1).t())
        assert torch.equal(valid, known.flatten())


def test_kd_term_is_the_kl_to_the_smoothed_labels_at_labelled_hits():
    """Against a direct float64 computation at the room's hit pixels; an unlabelled hit adds
    nothing."""
    model = build(smoothing=EPS)
    model.eval()  # the same student logits in both computations
    inputs, samples = room_batch(1)
    labels = torch.randint(0, K, PANO, dtype=torch.uint8)
    labels[:, :PANO[1] // 4] = 255  # a quarter of the panorama has no label
    samples[0].gt_panorama = labels
    loss = model.loss(inputs, samples)['loss_dist']
    tsdf = input_tsdf(inputs[0, 0])
    projector = model._room(tsdf, samples[0]).projector
    student = projector.sample(model.train_logits(inputs)[0]).double()
    hit = labels.flatten().long()[projector.pixels]
    known = hit != 255
    assert 0 < known.sum() < len(hit)  # both kinds of hits are in the room
    log_t = smoothed_log_target(hit[known])
    kl = (log_t.exp() * (log_t - student[known].log_softmax(1))).sum(1)
    torch.testing.assert_close(loss.double(), kl.mean(), rtol=1e-5, atol=1e-7)


def test_a_panorama_without_labels_adds_no_kd_term_and_cross_entropy_still_trains():
    model = build()
    model.train()
    inputs, samples = room_batch(2)
    samples[0].gt_panorama = torch.full(PANO, 255, dtype=torch.uint8)
    losses = model.loss(inputs, samples)
    assert losses['loss_dist'].item() == 0 and losses['decode.loss_ce'] > 0
    (losses['loss_dist'] + losses['decode.loss_ce']).backward()
    for name, p in model.named_parameters():  # the cross entropy reaches every weight
        assert p.grad is not None and math.isfinite(p.grad.abs().sum()), name
        assert p.grad.abs().sum() > 0, f'{name} got a zero gradient'


def test_bad_oracle_inputs_are_named_errors():
    with pytest.raises(ValueError, match=r'smoothing must be in \(0, 0.5\), got 0'):
        build(smoothing=0)
    model = build()
    inputs, samples = room_batch(0)
    with pytest.raises(ValueError, match="room room0 has no 'gt_panorama'; use "
                                         r'LoadPanorama\(with_annotation=True\)'):
        model.loss(inputs, samples)
    samples[0].gt_panorama = torch.full(PANO, 40, dtype=torch.uint8)
    with pytest.raises(ValueError, match='room room0 has label panorama classes >= 30'):
        model.loss(inputs, samples)
    # the trained teacher's arguments are accepted (a config switches with model.type) and
    # never built
    assert build(teacher_config='missing.py', teacher_checkpoint='missing.pth').teacher is None


def test_the_oracle_config_trains_from_the_label_panoramas_of_its_dataset(tiny_rooms):
    """configs/distill/panokd_oracle_...: the dataset gives each room its label panorama and
    the built oracle distils it (no teacher is built)."""
    from mmseg.registry import DATASETS
    cfg = Config.fromfile(f'{CONFIGS}/distill/panokd_oracle_3dseg-t_1xb1-120_synthrooms.py')
    cfg.train_dataloader.dataset.data_root = tiny_rooms
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    item = dataset[0]
    sample = item['data_samples']
    assert sample.gt_panorama.shape == sample.panorama.shape[1:]
    # the room's own label panorama, as written
    import mmcv
    written = mmcv.imread(dataset.get_data_info(0)['seg_map_path'], flag='unchanged')
    np.testing.assert_array_equal(sample.gt_panorama.numpy(), written)
    cfg.model.backbone.drop_path_rate = 0.
    cfg.model.raycaster.update(height=PANO[0], width=PANO[1])
    model = MODELS.build(cfg.model)
    assert model.teacher is None
    losses = model.loss(item['inputs'][None].float(), [sample])
    assert losses['loss_dist'] > 0 and losses['decode.loss_ce'] > 0
