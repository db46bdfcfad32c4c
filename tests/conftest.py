import os.path as osp
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tests'))
CONFIGS = osp.join(ROOT, 'configs')

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(autouse=True, scope='session')
def _registry():
    from mmengine.registry import init_default_scope

    import segmenter3d  # noqa: F401  (registers our modules)
    init_default_scope('mmseg')


def build_model_from_config(path: str, **model_overrides):
    """Build ``cfg.model`` of a config under configs/, with optional top-level overrides."""
    from mmengine.config import Config
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(CONFIGS, path))
    cfg.model.update(model_overrides)
    return MODELS.build(cfg.model)
