# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Runtime helpers shared by the command-line tools."""
import os
from numbers import Integral
from typing import Sequence, Tuple, Union

import numpy as np
import torch
import torch.distributed as dist
from mmengine.config import Config


def to_triple(value: Union[int, Sequence[int]], name: str) -> Tuple[int, int, int]:
    """An int or 3 ints as a (D, H, W) triple of positive ints; ValueError naming ``name``."""
    triple = (value, ) * 3 if isinstance(value, Integral) else tuple(value)
    if len(triple) != 3 or not all(isinstance(v, Integral) and v > 0 for v in triple):
        raise ValueError(f'{name} must be a positive int or 3 positive ints, got {value}')
    return tuple(int(v) for v in triple)


def setup_cpu_distributed(cfg: Config) -> None:
    """Make ``--launcher pytorch`` work on machines without CUDA.

    mmengine's launcher calls ``torch.cuda.set_device``, which a CPU-only torch rejects, and
    wraps the model with ``device_ids``, which DDP refuses for CPU modules. On such machines the
    gloo process group is initialised here (the Runner then reuses it) and DDP gets no device
    ids. With CUDA nothing changes.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.env_cfg = cfg.get('env_cfg', {})
    cfg.env_cfg['dist_cfg'] = dict(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg', None) or dict(type='MMDistributedDataParallel'))
    wrapper.setdefault('broadcast_buffers', False)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    os.environ.setdefault('OMP_NUM_THREADS', '1')


def trust_own_checkpoints() -> None:
    """Allow the Runner's own checkpoints under torch's ``weights_only`` loading.

    mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; since torch 2.6 that means
    ``weights_only=True``, which rejects the message hub's ``HistoryBuffer`` (pickled with
    ``getattr`` for its statistics methods) and the numpy arrays and scalars it holds, so
    ``--resume`` and testing a Runner checkpoint would fail. Only these globals are allowed;
    the weights-only unpickler still refuses to call anything else.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    core = getattr(np, '_core', None) or np.core
    safe = [HistoryBuffer, getattr, np.ndarray, np.dtype, core.multiarray._reconstruct,
            core.multiarray.scalar]
    safe += [type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool')]
    torch.serialization.add_safe_globals(safe)
