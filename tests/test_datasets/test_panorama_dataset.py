import os.path as osp

import mmcv
import numpy as np
import pytest
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import CONFIGS
from segmenter3d.datasets import PanoramaDataset, RandomPanoramaRoll
from segmenter3d.synthrooms import generate_dataset


def test_roll_moves_image_and_labels_together():
    img = np.arange(4 * 10 * 3, dtype=np.uint8).reshape(4, 10, 3)
    seg = img[..., 0].copy()
    np.random.seed(0)
    shifts = set()
    for _ in range(20):
        out = RandomPanoramaRoll().transform(dict(img=img.copy(), gt_seg_map=seg.copy(),
                                                  seg_fields=['gt_seg_map']))
        shift = int(np.argwhere(out['img'][0, :, 0] == img[0, 0, 0])[0, 0])
        np.testing.assert_array_equal(out['img'], np.roll(img, shift, axis=1))
        np.testing.assert_array_equal(out['gt_seg_map'], out['img'][..., 0])
        shifts.add(shift)
    assert len(shifts) > 1 and shifts != {0}  # it does roll, by headings that vary
    kept = RandomPanoramaRoll(prob=0).transform(dict(img=img.copy(), gt_seg_map=seg.copy(),
                                                     seg_fields=['gt_seg_map']))
    np.testing.assert_array_equal(kept['img'], img)
    np.testing.assert_array_equal(kept['gt_seg_map'], seg)


def test_dataset_reads_generated_panoramas(tmp_path):
    generate_dataset(str(tmp_path), 4, voxel_size=0.15, pano_size=(16, 32), split_ratios=(2, 1, 1))
    ds = PanoramaDataset(data_root=str(tmp_path), data_prefix=dict(
        img_path='images/training', seg_map_path='annotations/training'), pipeline=[
            dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')])
    assert len(ds) == 2 and len(ds.metainfo['classes']) == 30
    item = ds[0]
    labels = item['data_samples'].gt_sem_seg.data
    assert item['inputs'].shape == (3, 16, 32) and labels.shape == (1, 16, 32)
    # no zero-label reduction: class ids as written, pixel for pixel
    written = mmcv.imread(str(tmp_path / 'annotations' / 'training' / osp.basename(
        ds.get_data_info(0)['seg_map_path'])), flag='unchanged')
    np.testing.assert_array_equal(labels[0].numpy(), written)


@pytest.mark.parametrize('config,dims', [
    ('teacher/segmenter_vit-t_synthrooms.py', 192),
    ('teacher/segmenter_vit-b_mask_8xb1-80k_panorooms-512x1024.py', 768),
    ('teacher/segmenter_vit-l_mask_8xb1-80k_panorooms-512x1024.py', 1024),
])
def test_teacher_configs_are_mmseg_segmenters_with_30_classes(config, dims):
    cfg = Config.fromfile(f'{CONFIGS}/{config}')
    assert cfg.model.type == 'EncoderDecoder'
    assert cfg.model.decode_head.type == 'SegmenterMaskTransformerHead'
    assert cfg.model.decode_head.num_classes == 30 and cfg.model.backbone.embed_dims == dims
    assert cfg.train_dataloader.dataset.type == 'PanoramaDataset'
    if dims == 192:  # small enough to build here
        cfg.model.pretrained = None
        model = MODELS.build(cfg.model)
        assert model.decode_head.num_classes == 30


def test_pano2d_teacher_trains_on_labelled_and_panorama_only_rooms(tmp_path):
    """The abundant-2D teacher config reads the training panoramas of both roots, with the
    training pipeline, and is the same model as the embedded teacher (its checkpoints load
    into the distiller's teacher config)."""
    from mmseg.registry import DATASETS
    for root, rooms in (('labelled', 4), ('pano2d', 8)):
        generate_dataset(str(tmp_path / root), rooms, voxel_size=0.15, pano_size=(16, 32),
                         split_ratios=(1, 1, 2))
    cfg = Config.fromfile(f'{CONFIGS}/teacher/segmenter_vit-t_mask_1xb4-4k_synthrooms+'
                          'pano2d-128x256.py')
    key = 'train_dataloader.dataset.datasets.{}.data_root'
    cfg.merge_from_dict({key.format(0): str(tmp_path / 'labelled'),
                         key.format(1): str(tmp_path / 'pano2d')})
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(ds) == 1 + 2  # the training quarter of each root
    assert ds[2]['inputs'].shape == (3, 128, 256)
    base = Config.fromfile(f'{CONFIGS}/teacher/segmenter_vit-t_synthrooms.py')
    assert cfg.model == base.model and cfg.test_pipeline == base.test_pipeline
    assert cfg.param_scheduler[-1].end == cfg.train_cfg.max_iters == 4000
