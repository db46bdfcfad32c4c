"""The teacher starts from a released 150-class ADE20K Segmenter as docs/distillation.md says:
built at the checkpoint's 512x512, only the class-count weights of the head do not fit, and
the backbone still runs on the 1:2 panoramas (mmseg's ViT interpolates the positions)."""
import os.path as osp

import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import CONFIGS
from segmenter3d.checkpoint_io import weight_mismatches

TEACHER = osp.join(CONFIGS, 'teacher', 'segmenter_vit-b_mask_8xb1-80k_panorooms-512x1024.py')


def small_teacher(img_size, num_classes):
    """The teacher config at the given size and class count, narrowed to run in a test."""
    cfg = Config.fromfile(TEACHER).model
    cfg.pretrained = None
    cfg.backbone.update(img_size=img_size, embed_dims=48, num_layers=2, num_heads=3)
    cfg.decode_head.update(num_classes=num_classes, in_channels=48, channels=48, embed_dims=48,
                           num_heads=3, num_layers=1)
    return MODELS.build(cfg)


def test_ade20k_checkpoint_fits_the_teacher_built_at_its_size():
    torch.manual_seed(0)
    ade20k = small_teacher((512, 512), 150).state_dict()

    at_panorama_size = weight_mismatches(small_teacher((512, 1024), 30), ade20k, show=5)
    assert at_panorama_size[0].startswith('4 shape mismatches, e.g. backbone.pos_embed')

    teacher = small_teacher((512, 512), 30)
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
