# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Distributed set-up on machines without CUDA: the gloo process group, started before the
Runner (mmengine's pytorch launcher calls ``torch.cuda.set_device``, which a CPU-only torch
cannot do)."""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


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
