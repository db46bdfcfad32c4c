# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Reading a room's panorama cameras: the file names of its views and ``cameras/<room>.npy``.

Data reading, so it lives with the datasets; the generator (``synthrooms.views``) writes these
files and imports the names from here.
"""
import os.path as osp
from typing import Optional, Sequence

import numpy as np


def view_name(room: str, view: int) -> str:
    """File stem of a room's view: the room's own name for view 0."""
    return room if view == 0 else f'{room}_view{view}'


def cameras_path(data_root: str, room: str) -> str:
    return osp.join(data_root, 'cameras', f'{room}.npy')


def load_cameras(path: str, num_views: Optional[int] = None,
                 room_shape: Optional[Sequence[int]] = None) -> np.ndarray:
    """The first ``num_views`` cameras (all by default) of ``cameras/<room>.npy``, validated:
    (N, 3) float32, inside the room (voxel coordinates 0..size-1) when ``room_shape`` is
    given."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: cameras not found (render the views with '
                                f'tools/data/render_views.py --views {num_views or "N"})')
    try:
        cameras = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise ValueError(f'{path}: cannot be read as a .npy array ({err})') from None
    if cameras.ndim != 2 or cameras.shape[1] != 3 or not np.issubdtype(cameras.dtype,
                                                                        np.number):
        raise ValueError(f'{path}: cameras must be a numeric (N, 3) array, got '
                         f'{cameras.dtype} {cameras.shape}')
    if num_views is not None and len(cameras) < num_views:
        raise ValueError(f'{path}: holds {len(cameras)} cameras, the dataset asks for '
                         f'{num_views} views')
    cameras = cameras[:num_views].astype(np.float32)
    if not np.isfinite(cameras).all():
        raise ValueError(f'{path}: cameras hold NaN or Inf')
    if room_shape is not None:
        top = np.asarray(room_shape[:3]) - 1
        outside = np.flatnonzero(((cameras < 0) | (cameras > top)).any(1))
        if len(outside):
            raise ValueError(f'{path}: camera {outside[0]} '
                             f'{[round(float(c), 2) for c in cameras[outside[0]]]} lies outside '
                             f'the room (voxel coordinates 0..{top.tolist()})')
    return cameras
