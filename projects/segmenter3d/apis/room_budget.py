# Copyright (c) 3D Segmenter authors. All rights reserved.
"""What segmenting a whole room will cost, estimated before the room is read.

Slide inference pads a room to the window along short axes and visits every voxel
``(crop / stride)^3`` times; its memory is the room-sized arrays (input, TSDF, labels) plus a
window-deep slab, so both grow with the padded voxel count. A 2000 x 2000 x 10 room (311 KB on
disk) pads to 2000 x 2000 x 32 with 32^3 windows: 128 M voxels, 6 GB and about 17 minutes of
CPU. Memory is measured with ``benchmarks/infer_memory.py`` (about 42 bytes a padded voxel on
top of 600 MB of imported libraries). Time is the work of the windows: padded voxels x window
visits per voxel ``(crop / stride)^3`` x parameters per voxel (parameters / patch volume), at
a rate measured on one CPU thread (3DSeg-T, 32^3 windows, stride 16: 4.8 s for 96 x 96 x 48,
estimated 3.2 s; 3DSeg-L, 128^3 windows: 4.6 s, estimated 6.9 s): within a factor of 2.
"""
import math
import os
from typing import Dict, Sequence

BASE_MB = 600  # the interpreter with torch, mmcv and mmseg imported
BYTES_PER_VOXEL = 42  # room arrays, network input and slab, a padded voxel
# seconds per padded voxel, window visit and model parameter per voxel (one CPU thread)
SECONDS_PER_UNIT = 2.2e-11


def _triple(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value, ) * 3


def physical_memory_gb() -> float:
    try:
        return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30
    except (ValueError, OSError, AttributeError):
        return 16.0


def estimate_cost(shape: Sequence[int], model) -> Dict[str, float]:
    """``memory_gb``, ``minutes`` (on CPU) and ``padded_voxels`` of slide inference of a room
    of ``shape`` (X, Y, Z) voxels with ``model`` (a ``VolumeEncoderDecoder``)."""
    cfg = getattr(model, 'test_cfg', None) or {}
    crop = _triple(cfg.get('crop_size', 64))
    stride = _triple(cfg.get('stride', crop))
    padded = [max(int(s), int(c)) for s, c in zip(shape, crop)]
    voxels = math.prod(padded)
    visits = math.prod(max(c / s, 1.0) for c, s in zip(crop, stride))
    params = sum(p.numel() for p in model.parameters())
    patch = _triple(getattr(getattr(model, 'backbone', None), 'patch_size', 2) or 2)
    per_voxel = params / math.prod(patch)
    seconds = voxels * visits * per_voxel * SECONDS_PER_UNIT
    return dict(memory_gb=(BASE_MB * 2**20 + voxels * BYTES_PER_VOXEL) / 2**30,
                minutes=seconds / 60, padded_voxels=voxels)


def check_budget(what: str, shape: Sequence[int], model, max_memory_gb: float,
                 max_minutes: float, device: str = 'cpu') -> Dict[str, float]:
    """Refuse a room whose estimate exceeds the limits (time only counts on CPU).

    Raises:
        ValueError: naming the room, with the estimate and the options that raise the limits.
    """
    cost = estimate_cost(shape, model)
    over = []
    if max_memory_gb is not None and cost['memory_gb'] > max_memory_gb:
        over.append(f'memory {max_memory_gb:.1f} GB')
    on_cpu = str(device).split(':')[0] == 'cpu'  # 'cpu:0' too
    if max_minutes is not None and on_cpu and cost['minutes'] > max_minutes:
        over.append(f'time {max_minutes:g} min')
    if over:
        raise ValueError(
            f'{what}: a room of {"x".join(map(str, shape))} voxels ({cost["padded_voxels"]:,} '
            f'once padded to the window) needs about {cost["memory_gb"]:.1f} GB and '
            f'{cost["minutes"]:.0f} min of CPU, beyond the limit of {" and ".join(over)}; '
            'pass --max-memory-gb / --max-minutes to raise the limits, or --no-limits')
    return cost
