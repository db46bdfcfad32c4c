# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Scan simulation: keep only what RGB-D cameras standing in the room would observe.

The paper's rooms are fused from rendered RGB-D frames, so surfaces no camera sees (behind a
wardrobe, under a bed, inside walls) are unobserved. Here panoramic cameras at 1.4-1.8 m cast
rays; a voxel is observed when it lies within the truncation distance of a surface point some
ray hit. Unobserved voxels become empty (tsdf +truncation, colour 0); their label stays void
where the voxel is free space and becomes 255 (ignore) where it is solid, since nothing in the
input says what is there.
"""
import numpy as np
import torch
from scipy import ndimage

from ..rendering import TSDFRaycaster
from .room import TRUNCATION, Room
from .views import eye_level_cameras


def observed_mask(room: Room, num_cameras: int, rng: np.random.Generator,
                  rays: tuple = (128, 256)) -> np.ndarray:
    """Boolean (X, Y, Z): voxels within the truncation band of any surface point hit."""
    tsdf = torch.from_numpy(room.tsdf)
    cameras = [room.camera] + list(eye_level_cameras(room.tsdf, room.voxel_size, room.origin,
                                                     num_cameras - 1, rng))
    caster = TSDFRaycaster(*rays)
    hit_grid = np.zeros(room.tsdf.shape, bool)
    for cam in cameras:
        cam = torch.as_tensor(np.asarray(cam, np.float32))
        hits = caster.cast(tsdf, cam)
        ids = hits.points[hits.valid].round().long().numpy()
        hit_grid[ids[:, 0], ids[:, 1], ids[:, 2]] = True
    if not hit_grid.any():
        return hit_grid
    return ndimage.distance_transform_edt(~hit_grid) <= TRUNCATION


def simulate_scan(room: Room, num_cameras: int = 4, seed: int = 0) -> Room:
    """A copy of ``room`` with what no camera observes emptied (see module docstring)."""
    rng = np.random.default_rng(seed)
    seen = observed_mask(room, num_cameras, rng)
    tsdf, rgb, labels = room.tsdf.copy(), room.rgb.copy(), room.labels.copy()
    hidden = ~seen
    solid_hidden = hidden & (tsdf < TRUNCATION)
    labels[solid_hidden] = 255
    tsdf[hidden] = TRUNCATION
    rgb[:, hidden] = 0
    meta = dict(room.meta, scan_cameras=num_cameras,
                observed_fraction=float(seen[room.tsdf < TRUNCATION].mean()))
    return Room(tsdf=tsdf, rgb=rgb, labels=labels, voxel_size=room.voxel_size,
                origin=room.origin, camera=room.camera, room_type=room.room_type, meta=meta)
