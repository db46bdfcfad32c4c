# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Building a trained segmentor and running it on whole rooms."""
import inspect
from typing import Optional, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from ..checkpoint_io import dataset_meta_of, load_weights


def student_config(model_cfg: dict) -> dict:
    """The plain segmentor inside a model config: a distiller (any subclass of
    :class:`VolumeEncoderDecoder` registered in ``MODELS``) becomes a ``VolumeEncoderDecoder``
    with exactly the arguments that class takes; other configs are returned unchanged.

    The arguments are read from the two classes' signatures, so a new distiller argument
    needs no change here.
    """
    from ..models.segmentors import VolumeEncoderDecoder
    cls = MODELS.get(model_cfg['type']) if isinstance(model_cfg['type'], str) else model_cfg['type']
    if cls is None or cls is VolumeEncoderDecoder or not (
            isinstance(cls, type) and issubclass(cls, VolumeEncoderDecoder)):
        return model_cfg
    keep = set(inspect.signature(VolumeEncoderDecoder.__init__).parameters) - {'self'}
    student = {k: v for k, v in dict(model_cfg).items() if k in keep}
    student['type'] = 'VolumeEncoderDecoder'
    return type(model_cfg)(student) if isinstance(model_cfg, dict) else student


def init_segmentor(config: Union[str, Config], checkpoint: Optional[str] = None,
                   device: str = 'cpu'):
    """A segmentor in eval mode from a config (a distiller is reduced to its student)."""
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(student_config(cfg.model))
    if checkpoint is not None:
        ckpt = load_weights(model, checkpoint)
        model.dataset_meta = dataset_meta_of(ckpt, checkpoint, model.num_classes)
    return model.to(device).eval()


@torch.no_grad()
def inference_room(model, volume: np.ndarray, progress: bool = False) -> torch.Tensor:
    """Per-voxel class logits (K, X, Y, Z), a CPU tensor, of a (C, X, Y, Z) room volume.

    Uses the model's ``test_cfg`` (``slide`` for rooms larger than memory allows whole) and
    leaves it as it was.
    """
    device = next(model.parameters()).device
    inputs = torch.from_numpy(np.ascontiguousarray(volume)).float()[None].to(device)
    return model.inference(inputs, progress=progress)[0].cpu()


@torch.no_grad()
def predict_room(model, volume: np.ndarray, progress: bool = False) -> np.ndarray:
    """(X, Y, Z) uint8 labels of a (C, X, Y, Z) room volume; with a ``slide`` ``test_cfg``
    peak memory grows with the window, not the room (no room-sized logits)."""
    device = next(model.parameters()).device
    inputs = torch.from_numpy(np.ascontiguousarray(volume)).float()[None].to(device)
    return model.predict_labels(inputs, progress=progress)[0].cpu().numpy().astype(np.uint8)
