# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Building a trained segmentor and running it on whole rooms."""
from typing import Optional, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from ..utils import load_weights


def init_segmentor(config: Union[str, Config], checkpoint: Optional[str] = None,
                   device: str = 'cpu'):
    """A segmentor in eval mode from a config (a distiller is reduced to its student)."""
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model_cfg = cfg.model
    if model_cfg.type == 'PanoDistiller':  # inference needs the student only
        for key in ('teacher_config', 'teacher_checkpoint', 'raycaster', 'distill_loss',
                    'cache_teacher_logits'):
            model_cfg.pop(key, None)
        model_cfg.type = 'VolumeEncoderDecoder'
    model = MODELS.build(model_cfg)
    if checkpoint is not None:
        ckpt = load_weights(model, checkpoint)
        model.dataset_meta = ckpt.get('meta', {}).get('dataset_meta')
    return model.to(device).eval()


@torch.no_grad()
def inference_room(model, volume: np.ndarray, progress: bool = False) -> np.ndarray:
    """Per-voxel class logits (K, X, Y, Z) of a (C, X, Y, Z) room volume.

    Uses the model's ``test_cfg`` (``slide`` for rooms larger than memory allows whole).
    """
    device = next(model.parameters()).device
    inputs = torch.from_numpy(np.ascontiguousarray(volume)).float()[None].to(device)
    model.test_cfg['progress'] = progress
    return model.inference(inputs)[0].cpu()
