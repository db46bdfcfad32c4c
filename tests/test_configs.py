"""Every config parses, and every segmentor config names parts that are registered."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import CONFIGS

LEAVES = sorted(p for p in glob.glob(f'{CONFIGS}/**/*.py', recursive=True) if '_base_' not in p)


@pytest.mark.parametrize('path', LEAVES, ids=[osp.relpath(p, CONFIGS) for p in LEAVES])
def test_config_parses_and_its_parts_are_registered(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmseg'
    assert cfg.custom_imports == dict(imports=['segmenter3d'], allow_failed_imports=False)
    model = cfg.model
    for part in (model, model.get('backbone'), model.get('decode_head')):
        if part is not None:
            assert MODELS.get(part['type']) is not None, part['type']
    if model.type == 'PanoDistiller':  # (the oracle distiller has no teacher config)
        # beside the config file, never the working directory (tools run from anywhere)
        assert osp.isabs(model.teacher_config), model.teacher_config
        teacher = Config.fromfile(model.teacher_config)
        assert teacher.model.decode_head.num_classes == model.decode_head.num_classes


@pytest.mark.parametrize('path', LEAVES, ids=[osp.relpath(p, CONFIGS) for p in LEAVES])
def test_init_segmentor_builds_every_config(path):
    """Distillers become their student by the classes' signatures (every distiller argument,
    room_cache_mb included, is dropped); everything else builds as it is."""
    import torch

    from segmenter3d.apis import init_segmentor
    from segmenter3d.models.segmentors import PanoDistiller, VolumeEncoderDecoder
    model = init_segmentor(path)
    assert not model.training
    cfg = Config.fromfile(path)
    if issubclass(MODELS.get(cfg.model.type), PanoDistiller):
        assert type(model) is VolumeEncoderDecoder and not isinstance(model, PanoDistiller)
        cfg.model.room_cache_mb = 64  # a distiller-only argument set in the config
        assert type(init_segmentor(cfg)) is VolumeEncoderDecoder
    if isinstance(model, VolumeEncoderDecoder):
        with torch.no_grad():
            out = model(torch.zeros(1, model.backbone.in_channels, 16, 16, 16), mode='tensor')
        assert out.shape == (1, model.num_classes, 16, 16, 16)
