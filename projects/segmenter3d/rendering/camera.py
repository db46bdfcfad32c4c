# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The one rule for a room's panorama camera.

A room that stores a ``camera`` (voxel coordinates) is seen from there. A room without one
(the PanoRooms3D release stores none) is seen from the centre of the room as stored, never
of a padded copy: ``PadVolume(size_divisor=128)`` grows a 130 x 110 x 70 room to 256 x 128 x
128, whose centre (127.5, 63.5, 63.5) lies outside the room. Every consumer (the distiller,
inference, the panorama metric, the visualiser) asks this function, so they agree.
"""
from typing import Optional, Sequence

import numpy as np


def room_camera(shape: Sequence[int], camera: Optional[Sequence[float]] = None) -> np.ndarray:
    """(3,) float32 camera of a room in voxel coordinates: ``camera`` when given, else the
    centre ``(shape - 1) / 2`` of the room's own (unpadded) ``shape`` (X, Y, Z).

    Raises:
        ValueError: ``shape`` is not three positive sizes or ``camera`` not three finite numbers.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f'room_camera: shape must be three positive sizes (X, Y, Z), got {shape}')
    if camera is None:
        return (np.asarray(shape, np.float32) - 1) / 2
    camera = np.asarray(camera, np.float32).reshape(-1)
    if camera.shape != (3, ) or not np.isfinite(camera).all():
        raise ValueError(f'room_camera: camera must be three finite numbers, got {camera}')
    return camera
