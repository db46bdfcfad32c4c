import os.path as osp
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tests'))
sys.path.insert(0, ROOT)  # studies/ (experiment drivers' helpers, not installed)
CONFIGS = osp.join(ROOT, 'configs')

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(autouse=True, scope='session')
def _registry():
    from mmengine.registry import init_default_scope

    import segmenter3d  # noqa: F401  (registers our modules)
    from segmenter3d.checkpoint_io import use_safe_checkpoint_loading
    init_default_scope('mmseg')
    use_safe_checkpoint_loading()  # as the tools do: mmengine's loaders meet ours


def build_model_from_config(path: str, **model_overrides):
    """Build ``cfg.model`` of a config under configs/, with optional top-level overrides."""
    from mmengine.config import Config
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(CONFIGS, path))
    cfg.model.update(model_overrides)
    return MODELS.build(cfg.model)


def config_with_options(path: str, options):
    """A config of the repository with ``--cfg-options`` items applied as the tools parse
    them (``mmengine.config.DictAction``)."""
    import argparse

    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(osp.join(ROOT, path))
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg.merge_from_dict(parser.parse_args(['--cfg-options', *options]).cfg_options)
    return cfg


@pytest.fixture(scope='session')
def tiny_rooms(tmp_path_factory):
    """Four generated rooms at 20 cm (2 training, 1 validation, 1 test): what a tool run needs
    to find its split files and rooms."""
    from segmenter3d.synthrooms import generate_dataset
    out = tmp_path_factory.mktemp('tiny_rooms')
    generate_dataset(str(out), 4, seed=3, voxel_size=0.2, pano_size=(16, 32),
                     split_ratios=(2, 1, 1))
    return str(out)


def data_root_options(rooms: str) -> list:
    """``--cfg-options`` values pointing every dataloader of a config at ``rooms``."""
    return [f'{split}_dataloader.dataset.data_root={rooms}' for split in ('train', 'val', 'test')]


def load_tool(name: str):
    """``tools/<name>.py`` as a module (the tools are scripts, not a package); ``name`` may
    have a folder, ``'data/render_views'``."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"tool_{name.replace('/', '_')}",
                                                  osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PANO = (16, 32)  # panorama size of the tiny teacher


def tiny_teacher(num_classes=30):
    """mmseg's own Segmenter (ViT + mask transformer head), shrunk for a CPU test."""
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[127.5] * 3, std=[127.5] * 3,
                               bgr_to_rgb=True, size=PANO, pad_val=0, seg_pad_val=255),
        backbone=dict(type='VisionTransformer', img_size=PANO, patch_size=8, embed_dims=32,
                      num_layers=1, num_heads=2, with_cls_token=True, final_norm=True,
                      norm_cfg=dict(type='LN', eps=1e-6)),
        decode_head=dict(type='SegmenterMaskTransformerHead', in_channels=32, channels=32,
                         num_classes=num_classes, num_layers=1, num_heads=2, embed_dims=32,
                         dropout_ratio=0.0,
                         loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False)),
        test_cfg=dict(mode='whole'))
