# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Generated rooms written in the PanoRooms3D release's encoding, for exercising the
paper-scale path (configs, distiller, inference) where the release itself is not at hand.

The release stores three arrays and nothing else (no camera, no voxel size): ``sdf128``
(our tsdf, positive in free space, divided by 3), ``color128`` packed ``b * 65536 + g * 256 + r``
and ``semanticlabel`` as raw 3D-FRONT ids (one id per class here, the smallest the taxonomy
merges into it).
"""
from typing import Dict, Sequence

import numpy as np

from ..encoding import TRUNCATION
from ..fileio import save_npz_atomic
from ..rendering import room_camera
from ..taxonomy import PANOROOMS3D_RAW_TO_CLASS
from .room import Room


def class_to_raw() -> np.ndarray:
    """(256,) lookup: class id -> the smallest raw 3D-FRONT id that maps to it."""
    lut = np.zeros(256, np.int64)
    for raw, cls in sorted(PANOROOMS3D_RAW_TO_CLASS.items(), reverse=True):
        lut[cls] = raw
    return lut


def fit_room(room: Room, shape: Sequence[int]) -> Room:
    """``room`` cropped, or padded with unobserved free space (class 0), to ``shape``; its
    camera becomes the release's, the centre of the new shape."""
    shape = tuple(int(s) for s in shape)
    tsdf = np.full(shape, TRUNCATION, np.float32)
    rgb = np.zeros((3, ) + shape, np.uint8)
    labels = np.zeros(shape, np.uint8)
    box = tuple(slice(0, min(a, b)) for a, b in zip(shape, room.tsdf.shape))
    tsdf[box], labels[box] = room.tsdf[box], room.labels[box]
    rgb[(slice(None), ) + box] = room.rgb[(slice(None), ) + box]
    return Room(tsdf=tsdf, rgb=rgb, labels=labels, voxel_size=room.voxel_size,
                origin=room.origin, camera=room_camera(shape), room_type=room.room_type)


def release_arrays(room: Room) -> Dict[str, np.ndarray]:
    """The three arrays of the release's ``.npz`` for ``room``."""
    r, g, b = (room.rgb[i].astype(np.int64) for i in range(3))
    return dict(sdf128=(room.tsdf / TRUNCATION).astype(np.float32),
                color128=b * 65536 + g * 256 + r,
                semanticlabel=class_to_raw()[room.labels])


def save_release_room(room: Room, path: str) -> None:
    """Write ``room`` to ``path`` in the release format (atomically)."""
    save_npz_atomic(path, **release_arrays(room))
