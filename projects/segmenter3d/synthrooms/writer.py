# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Renders a room's panorama and writes rooms in the PanoRooms3D-like layout.

Layout under ``out_dir``::

    volumes/<room>.npz                 tsdf, rgb, labels, voxel_size, origin, camera
    images/<split>/<room>.png          panorama RGB (shaded)
    annotations/<split>/<room>.png     panorama labels (255 = no surface)
    depth/<split>/<room>.png           panorama depth, uint16 millimetres (0 = no surface)
    splits/<split>.txt                 room names, one a line

with ``<split>`` in ``training``, ``validation``, ``test``. Every file of a room is written to
a temporary name and renamed into place, the volume last, so an interrupted run leaves no half
room and a rerun skips what is complete.
"""
import os.path as osp
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from ..fileio import save_npz_atomic, write_png_atomic
from ..rendering import TSDFRaycaster
from ..rendering.raycaster import sample_volume
from .room import Room

SPLITS = ('training', 'validation', 'test')


def render_panorama(room: Room, height: int, width: int,
                    camera: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
    """Shaded RGB (H, W, 3) uint8, labels (H, W) uint8, depth (H, W) float metres, seen from
    ``camera`` (voxel coordinates; the room's own camera by default)."""
    tsdf = torch.from_numpy(room.tsdf)
    caster = TSDFRaycaster(height, width)
    camera = torch.from_numpy(np.asarray(room.camera if camera is None else camera,
                                         np.float32))
    hits = caster.cast(tsdf, camera)
    rgb = caster.project(torch.from_numpy(room.rgb).float(), hits)
    labels = caster.project(torch.from_numpy(room.labels)[None].float(), hits.behind(camera),
                            mode='nearest', fill=255)[0]
    # Lambert shading from the TSDF gradient with a light at the camera, plus ambient.
    eps = torch.eye(3) * 0.5
    grad = torch.stack([
        sample_volume(tsdf[None], hits.points + e)[0] -
        sample_volume(tsdf[None], hits.points - e)[0]
        for e in eps
    ], dim=-1)
    normal = torch.nn.functional.normalize(grad, dim=-1)
    view = torch.nn.functional.normalize(camera - hits.points, dim=-1)
    shade = 0.45 + 0.55 * (normal * view).sum(-1).clamp(min=0)
    rgb = (rgb * shade[None]).clamp(0, 255).permute(1, 2, 0)
    return dict(rgb=rgb.round().byte().numpy(), labels=labels.round().byte().numpy(),
                depth=(hits.depth * room.voxel_size * hits.valid).numpy())


def room_paths(out_dir: str, name: str, split: str) -> Dict[str, str]:
    return dict(volume=osp.join(out_dir, 'volumes', f'{name}.npz'),
                image=osp.join(out_dir, 'images', split, f'{name}.png'),
                annotation=osp.join(out_dir, 'annotations', split, f'{name}.png'),
                depth=osp.join(out_dir, 'depth', split, f'{name}.png'))


def is_complete(out_dir: str, name: str, split: str) -> bool:
    return all(osp.isfile(p) for p in room_paths(out_dir, name, split).values())


def save_room_volume(room: Room, path: str) -> None:
    """Write a room's arrays to ``path`` (.npz) atomically."""
    save_npz_atomic(path, tsdf=room.tsdf.astype(np.float16), rgb=room.rgb, labels=room.labels,
                    voxel_size=np.float32(room.voxel_size), origin=room.origin,
                    camera=room.camera)


def write_room(room: Room, out_dir: str, name: str, split: str,
               pano_size: Tuple[int, int], pano_room: Optional[Room] = None
               ) -> Dict[str, np.ndarray]:
    """Render and write one room; returns its class histogram and voxel count.

    The panorama is rendered from ``pano_room`` when given (a scanned room's exact original:
    the camera sees the room, not its reconstruction), else from ``room``.
    """
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    paths = room_paths(out_dir, name, split)
    pano = render_panorama(pano_room if pano_room is not None else room, *pano_size)
    write_png_atomic(paths['image'], pano['rgb'][..., ::-1])  # cv2 writes BGR
    write_png_atomic(paths['annotation'], pano['labels'])
    write_png_atomic(paths['depth'], np.clip(pano['depth'] * 1000, 0, 65535).astype(np.uint16))
    save_room_volume(room, paths['volume'])
    return dict(hist=np.bincount(room.labels.ravel(), minlength=256)[:256],
                voxels=np.int64(room.labels.size))
