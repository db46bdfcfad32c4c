"""The teacher starts from a released 150-class ADE20K Segmenter as docs/distillation.md says:
its ``ade20k-pre`` config leaves only the class-count weights of the head unfitted, runs on
the 1:2 panoramas (mmseg's ViT interpolates the positions), and the teacher it trains loads
strictly again from the same config, not from the ImageNet one."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import CONFIGS
from segmenter3d.checkpoint_io import load_weights, weight_mismatches

TEACHERS = osp.join(CONFIGS, 'teacher')
IMAGENET = osp.join(TEACHERS, 'segmenter_vit-b_mask_8xb1-80k_panorooms-512x1024.py')
ADE20K_PRE = osp.join(TEACHERS, 'segmenter_vit-b_mask_ade20k-pre_8xb1-80k_panorooms-512x1024.py')


def small_teacher(config, img_size=None, num_classes=None):
    """The teacher of ``config``, narrowed to run in a test (sizes and classes as it says)."""
    cfg = Config.fromfile(config).model
    cfg.pretrained = None
    cfg.backbone.update(embed_dims=48, num_layers=2, num_heads=3)
    cfg.decode_head.update(in_channels=48, channels=48, embed_dims=48, num_heads=3,
                           num_layers=1)
    if img_size is not None:
        cfg.backbone.img_size = img_size
    if num_classes is not None:
        cfg.decode_head.num_classes = num_classes
    return MODELS.build(cfg)


def test_ade20k_pre_config_needs_no_imagenet_weights():
    cfg = Config.fromfile(ADE20K_PRE)
    assert cfg.model.pretrained is None and tuple(cfg.model.backbone.img_size) == (512, 512)
    assert tuple(cfg.model.data_preprocessor.size) == (512, 1024)  # still trains on panoramas


def test_ade20k_checkpoint_fits_the_ade20k_pre_teacher(tmp_path):
    torch.manual_seed(0)
    ade20k = small_teacher(IMAGENET, (512, 512), 150).state_dict()  # mmseg's released shapes

    on_imagenet_config = weight_mismatches(small_teacher(IMAGENET), ade20k, show=5)
    assert on_imagenet_config[0].startswith('4 shape mismatches, e.g. backbone.pos_embed')

    teacher = small_teacher(ADE20K_PRE)
    problems = weight_mismatches(teacher, ade20k, show=5)
    assert len(problems) == 1 and problems[0].startswith('3 shape mismatches')
    for key in ('decode_head.cls_emb', 'decode_head.mask_norm.weight',
                'decode_head.mask_norm.bias'):
        assert key in problems[0]
    fits = {k: v for k, v in ade20k.items() if v.shape == teacher.state_dict()[k].shape}
    teacher.load_state_dict(fits, strict=False)
    assert torch.equal(teacher.backbone.pos_embed, ade20k['backbone.pos_embed'])
    teacher.eval()
    with torch.no_grad():
        wide = teacher.backbone(torch.rand(1, 3, 64, 128))[-1]
    assert wide.shape == (1, 48, 4, 8) and torch.isfinite(wide).all()

    # the trained teacher, as the distiller and tools/test.py load it (strictly)
    path = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict()}, path)
    again = small_teacher(ADE20K_PRE)
    load_weights(again, path, what='teacher checkpoint')
    assert torch.equal(again.backbone.pos_embed, teacher.backbone.pos_embed)
    with pytest.raises(ValueError, match='pos_embed'):
        load_weights(small_teacher(IMAGENET), path, what='teacher checkpoint')
