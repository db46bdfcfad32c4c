# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The network's input encoding and the constants every part shares, in one place.

Two sign conventions meet here, and this module is the only place that converts between them:

* **Stored rooms, the generator and the raycaster** use a TSDF in voxel units that is
  *positive in free space* and negative inside objects, truncated to ``+-TRUNCATION`` (what
  ray marching wants: a ray stops where the distance crosses zero going down).
* **The network** sees the reference release's encoding, so that released checkpoints get the
  inputs they were trained on: channel 0 is ``-3 * sdf128``, i.e. the voxel-unit distance
  *negative in free space* (``-TRUNCATION`` where empty or unobserved) and positive inside
  objects; channels 1-3 are colour ``2c - 1`` with ``c`` in [0, 1], and ``-1`` wherever the
  distance is at the free-space truncation (nothing observed there).

Empty space in network encoding is therefore ``EMPTY_INPUT = (-3, -1, -1, -1)``: every pad of
a network input (data preprocessor, transforms, slide inference) uses it.
"""
from typing import Union

import numpy as np
import torch

#: TSDF truncation in voxels (both conventions).
TRUNCATION = 3.0
#: Label of voxels that take no part in the loss or the metric.
IGNORE_INDEX = 255
#: One network-input voxel of empty (or unobserved) space: tsdf channel, then r, g, b.
EMPTY_INPUT = (-TRUNCATION, -1.0, -1.0, -1.0)

ArrayLike = Union[np.ndarray, torch.Tensor]


def observed(tsdf: np.ndarray) -> np.ndarray:
    """Voxels of a stored TSDF (positive in free space) below the free-space truncation."""
    return tsdf < TRUNCATION


def encode_input(tsdf: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """(4, X, Y, Z) float32 network input from a stored room.

    Args:
        tsdf (ndarray): (X, Y, Z) voxel-unit TSDF, positive in free space.
        rgb (ndarray): (3, X, Y, Z) colour, uint8 0..255.

    Returns:
        ndarray: ``[-clip(tsdf, -3, 3), 2 * rgb / 255 - 1]`` with the colour set to -1 where
        ``tsdf >= 3`` (the reference release's encoding).
    """
    out = np.empty((4, ) + np.shape(tsdf), np.float32)
    # written in place, channel by channel: no room-sized temporaries beyond one boolean mask
    np.clip(tsdf, -TRUNCATION, TRUNCATION, out=out[0])
    free = ~observed(out[0])
    np.negative(out[0], out=out[0])
    np.multiply(rgb, np.float32(2.0 / 255.0), out=out[1:], casting='unsafe')
    out[1:] -= 1.0
    np.copyto(out[1:], np.float32(-1.0), where=free[None])
    return out


def input_tsdf(channel: ArrayLike) -> ArrayLike:
    """The stored-convention TSDF (positive in free space) of a network input's channel 0."""
    return -channel


def input_observed(channel: ArrayLike) -> ArrayLike:
    """Voxels of a network input's channel 0 that are not at the free-space truncation."""
    return channel > -TRUNCATION


def pad_input(volume: ArrayLike, size, values=EMPTY_INPUT) -> ArrayLike:
    """Pad a (C, D, H, W) array or tensor at the end of each axis to ``size``.

    Channel ``c`` is filled with ``values[c]``: by default empty space in the network's
    encoding (for labels pass ``values=(IGNORE_INDEX, )``). Axes already at least ``size``
    are left as they are; nothing is copied when no axis grows.
    """
    shape = volume.shape[1:]
    size = [max(int(t), s) for s, t in zip(shape, size)]
    if list(shape) == size:
        return volume
    if len(values) != volume.shape[0]:
        raise ValueError(f'pad_input: {len(values)} pad values for {volume.shape[0]} channels')
    if isinstance(volume, torch.Tensor):
        out = volume.new_empty((volume.shape[0], *size))
        out[:] = torch.as_tensor(values, dtype=volume.dtype,
                                 device=volume.device).view(-1, 1, 1, 1)
    else:
        out = np.empty((volume.shape[0], *size), volume.dtype)
        out[:] = np.asarray(values, volume.dtype)[:, None, None, None]
    out[:, :shape[0], :shape[1], :shape[2]] = volume
    return out
