# Copyright (c) 3D Segmenter authors. All rights reserved.
"""More panoramas per room: extra eye-level cameras, rendered beside the room's own view.

The paper distils from one panorama taken at the room centre, so surfaces that view sees
occluded get no teacher signal. Extra views reach them, and they are cheap 2D training data
for the teacher (rendering a view costs a ray cast, not a new room). Layout, next to the
room's own files::

    images/<split>/<room>_view<k>.png       panorama RGB of view k = 1..N-1
    annotations/<split>/<room>_view<k>.png  its labels (255 = no surface)
    depth/<split>/<room>_view<k>.png        its depth, uint16 millimetres
    cameras/<room>.npy                      (N, 3) float32 cameras in voxels; row 0 the room's

``cameras/<room>.npy`` is written last: a room with it has all its views, and a rerun skips it.
mmseg's ``PanoramaDataset`` finds the extra views by their suffix like any panorama, so a
teacher trained on ``images/training`` learns from every view.
"""
import io
import os.path as osp
from typing import Optional

import numpy as np

from ..datasets.cameras import cameras_path, load_cameras, view_name
from ..datasets.room_io import load_room
from ..encoding import TRUNCATION
from ..fileio import path_inside, write_bytes_atomic, write_png_atomic
from .room import Room
from .writer import render_panorama

EYE_LEVEL = (1.4, 1.8)  # metres above the room's floor (the origin's z), where people stand


def eye_level_cameras(tsdf: np.ndarray, voxel_size: float, origin: np.ndarray, num: int,
                      rng: np.random.Generator) -> np.ndarray:
    """``num`` random free voxels (the truncation distance from every surface) at eye level,
    (num, 3) float32 voxel coordinates; any free voxel when none is at eye level."""
    free = np.argwhere(tsdf >= TRUNCATION)
    if len(free) == 0:
        raise ValueError('the room has no free space for a camera')
    heights = free[:, 2] * voxel_size + float(np.asarray(origin)[2])
    eye = free[(heights >= EYE_LEVEL[0]) & (heights <= EYE_LEVEL[1])]
    pool = eye if len(eye) else free
    return pool[rng.choice(len(pool), size=num)].astype(np.float32)


def render_views(data_root: str, room: str, split: str, num_views: int,
                 pano_size=(256, 512), seed: int = 0) -> Optional[np.ndarray]:
    """Render views 1..N-1 of ``<data_root>/volumes/<room>.npz`` and write them with the
    cameras; returns the (N, 3) cameras, or None when the room already has them.

    ``room`` comes from a split file: every path built from it must resolve (links followed)
    inside its folder, or nothing is read or written (``ValueError``)."""
    if num_views < 1:
        raise ValueError(f'num_views must be at least 1, got {num_views}')
    out = cameras_path(data_root, room)
    path_inside(osp.join(data_root, 'cameras'), f'{room}.npy', 'room')  # the same, confined
    if osp.isfile(out):
        have = len(load_cameras(out))
        if have < num_views:
            raise ValueError(f'{out}: the room was rendered with {have} views, {num_views} '
                             'asked; render into a copy of the rooms')
        return None
    volume = path_inside(osp.join(data_root, 'volumes'), f'{room}.npz', 'room')
    targets = {kind: [path_inside(osp.join(data_root, kind, split),
                                  view_name(room, view) + '.png', 'room')
                      for view in range(1, num_views)]
               for kind in ('images', 'annotations', 'depth')}
    own = [osp.join(data_root, 'images', split, f'{room}{suffix}') for suffix in ('.png', '.jpg')]
    if not any(osp.isfile(path) for path in own):  # a room of another split, or none
        raise ValueError(f'{own[0]}: the room\'s own panorama is not in {split}; is {room!r} '
                         f'listed in the right split?')
    data = load_room(volume)
    if 'camera' not in data:
        raise ValueError(f'{volume}: field camera missing; views start from the room camera')
    voxel_size = float(data.get('voxel_size', 0.04))
    origin = np.asarray(data.get('origin', np.zeros(3)), np.float32)
    rng = np.random.default_rng([seed, int(''.join(c for c in room if c.isdigit()) or 0)])
    try:
        others = eye_level_cameras(data['tsdf'], voxel_size, origin, num_views - 1, rng)
    except ValueError as err:
        raise ValueError(f'{volume}: {err}') from None
    cameras = np.concatenate([np.asarray(data['camera'], np.float32)[None], others])
    base = Room(tsdf=data['tsdf'], rgb=data['rgb'], labels=data['labels'],
                voxel_size=voxel_size, origin=origin, camera=cameras[0], room_type='')
    for view in range(1, num_views):
        pano = render_panorama(base, *pano_size, camera=cameras[view])
        write_png_atomic(targets['images'][view - 1], pano['rgb'][..., ::-1])
        write_png_atomic(targets['annotations'][view - 1], pano['labels'])
        write_png_atomic(targets['depth'][view - 1],
                         np.clip(pano['depth'] * 1000, 0, 65535).astype(np.uint16))
    buffer = io.BytesIO()
    np.save(buffer, cameras)
    write_bytes_atomic(out, buffer.getvalue())
    return cameras
