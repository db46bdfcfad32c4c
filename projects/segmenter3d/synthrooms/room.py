# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Procedural furnished rooms voxelised into TSDF + RGB + labels.

World frame: metres, Z up, floor surface at z = 0. The volume's voxel (0, 0, 0) centre is at
``origin``; voxels are cubes of ``voxel_size``.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
from scipy import ndimage

from ..encoding import TRUNCATION
from .furniture import CLS, FLOOR_ITEMS, ROOM_TYPES, Part, material

WALL_THICKNESS = 0.12  # metres of wall kept around the interior


@dataclass
class Room:
    """A voxelised room: every array is (X, Y, Z) (``rgb`` is (3, X, Y, Z), uint8)."""
    tsdf: np.ndarray
    rgb: np.ndarray
    labels: np.ndarray
    voxel_size: float
    origin: np.ndarray
    camera: np.ndarray  # panorama camera, voxel coordinates
    room_type: str
    meta: Dict = field(default_factory=dict)


def _footprint(rng: np.random.Generator) -> Tuple[np.ndarray, List[tuple]]:
    """Rectangle or L shape: (4,) bbox and the list of interior rectangles (x0, y0, x1, y1)."""
    w, d = rng.uniform(3.0, 8.0), rng.uniform(3.0, 8.0)
    rects = [(0.0, 0.0, w, d)]
    if rng.random() < 0.35 and min(w, d) > 3.5:
        # L shape: cut a corner away.
        cw, cd = rng.uniform(0.3, 0.5) * w, rng.uniform(0.3, 0.5) * d
        rects = [(0.0, 0.0, w - cw, d), (w - cw, 0.0, w, d - cd)]
    return np.array([0.0, 0.0, w, d]), rects


def _free_spots(rects, occupied, size, rng, tries=30, against_wall=False):
    """Random axis-aligned placement of a (sx, sy) footprint inside rects, not overlapping."""
    for _ in range(tries):
        r = rects[rng.integers(len(rects))]
        sx, sy = size if rng.random() < 0.5 else size[::-1]
        if sx > r[2] - r[0] - 0.1 or sy > r[3] - r[1] - 0.1:
            continue
        x0 = rng.uniform(r[0] + 0.05, r[2] - sx - 0.05)
        y0 = rng.uniform(r[1] + 0.05, r[3] - sy - 0.05)
        if against_wall:
            side = rng.integers(4)
            x0 = [r[0] + 0.02, r[2] - sx - 0.02, x0, x0][side]
            y0 = [y0, y0, r[1] + 0.02, r[3] - sy - 0.02][side]
        box = (x0, y0, x0 + sx, y0 + sy)
        if all(box[2] + 0.15 < o[0] or o[2] + 0.15 < box[0] or box[3] + 0.15 < o[1]
               or o[3] + 0.15 < box[1] for o in occupied):
            return box
    return None


def _walls_parts(rects, height, rng, thick: float) -> List[Part]:
    """Doors, baseboards, art, mirrors, columns and ceiling lamps on the room's shell.

    ``thick`` is the depth of flat parts on walls (at least a voxel, so they voxelise).
    """
    parts: List[Part] = []
    outer = rects[0]
    x0, y0, x1, y1 = outer
    # A door in one of the outer walls (thin slab inset into the wall).
    side = rng.integers(4)
    wd = 0.9
    t = rng.uniform(0.2, 0.7)
    if side < 2:
        x = x0 if side == 0 else x1
        yc = y0 + t * (y1 - y0)
        parts.append(('box', (x - 0.05, yc - wd / 2, 0.0, x + 0.05, yc + wd / 2, 2.05),
                      CLS['doors'], material('doors', rng)))
    else:
        y = y0 if side == 2 else y1
        xc = x0 + t * (x1 - x0)
        parts.append(('box', (xc - wd / 2, y - 0.05, 0.0, xc + wd / 2, y + 0.05, 2.05),
                      CLS['doors'], material('doors', rng)))
    # Baseboards along every interior rectangle edge.
    bb, bh = (235, 235, 230), max(0.1, thick)
    for r in rects:
        parts += [('box', (r[0], r[1], 0.0, r[2], r[1] + thick, bh), CLS['baseboards'], bb),
                  ('box', (r[0], r[3] - thick, 0.0, r[2], r[3], bh), CLS['baseboards'], bb),
                  ('box', (r[0], r[1], 0.0, r[0] + thick, r[3], bh), CLS['baseboards'], bb),
                  ('box', (r[2] - thick, r[1], 0.0, r[2], r[3], bh), CLS['baseboards'], bb)]
    # Pictures and a mirror hung on walls.
    for name in ['arts'] * int(rng.integers(1, 4)) + ['mirrors'] * int(rng.integers(0, 2)):
        w, h = rng.uniform(0.4, 1.1), rng.uniform(0.4, 0.9)
        zc = rng.uniform(1.2, 1.7)
        side = rng.integers(4)
        # small rooms: keep the picture on the wall (clamping draws nothing more)
        w = min(w, 0.45 * ((y1 - y0) if side < 2 else (x1 - x0)))
        if side < 2:
            xa = x0 if side == 0 else x1 - thick
            yc = rng.uniform(y0 + w, y1 - w)
            box = (xa, yc - w / 2, zc - h / 2, xa + thick, yc + w / 2, zc + h / 2)
        else:
            ya = y0 if side == 2 else y1 - thick
            xc = rng.uniform(x0 + w, x1 - w)
            box = (xc - w / 2, ya, zc - h / 2, xc + w / 2, ya + thick, zc + h / 2)
        parts.append(('box', box, CLS[name], material(name, rng)))
    # Ceiling lamps.
    for _ in range(int(rng.integers(1, 3))):
        r = rects[rng.integers(len(rects))]
        mx, my = min(0.5, (r[2] - r[0]) / 2), min(0.5, (r[3] - r[1]) / 2)
        cx, cy = rng.uniform(r[0] + mx, r[2] - mx), rng.uniform(r[1] + my, r[3] - my)
        parts += [('cyl', (cx, cy, height - 0.5, height, 0.015), CLS['lamps'], (40, 40, 40)),
                  ('cyl', (cx, cy, height - 0.7, height - 0.5, 0.2), CLS['lamps'],
                   material('lamps', rng))]
    # Sometimes a column in a corner.
    if rng.random() < 0.3:
        r = rects[0]
        parts.append(('box', (r[0], r[1], 0.0, r[0] + 0.3, r[1] + 0.3, height), CLS['columns'],
                      material('columns', rng)))
    return parts


def _rasterise(part: Part, centres: Tuple[np.ndarray, np.ndarray, np.ndarray]):
    """Boolean occupancy (X, Y, Z) of a part at voxel centres (open grid axes)."""
    kind, p, _, _ = part
    x, y, z = centres
    if kind == 'box':
        return ((x >= p[0]) & (x < p[3]) & (y >= p[1]) & (y < p[4]) & (z >= p[2]) & (z < p[5]))
    if kind == 'cyl':
        cx, cy, z0, z1, r = p
        return ((x - cx)**2 + (y - cy)**2 <= r * r) & (z >= z0) & (z < z1)
    if kind == 'sphere':
        cx, cy, cz, r = p
        return (x - cx)**2 + (y - cy)**2 + (z - cz)**2 <= r * r
    raise ValueError(f'unknown part kind {kind!r}')


def _texture(shape, kind: str, rng) -> np.ndarray:
    """Multiplicative texture (X, Y, Z): planks for floors, soft noise for walls."""
    X, Y, Z = shape
    noise = rng.normal(1.0, 0.04, (X, Y, 1)) if kind == 'floor' else rng.normal(1.0, 0.02, shape)
    if kind == 'floor' and rng.random() < 0.7:
        period = max(2, int(rng.integers(3, 7)))
        stripes = 1.0 + 0.08 * ((np.arange(X if rng.random() < .5 else Y) // period) % 2)
        stripes = stripes[:, None, None] if stripes.shape[0] == X else stripes[None, :, None]
        noise = noise * stripes
    return np.broadcast_to(noise, shape)


def _furnish(rects, room_type: str, height: float, voxel_size: float,
             rng: np.random.Generator) -> List[Part]:
    """The furniture of ``room_type`` placed in free spots of the footprint, then the walls."""
    parts: List[Part] = []
    occupied: List[tuple] = []
    for name in ROOM_TYPES[room_type]:
        if rng.random() < 0.2:
            continue
        builder, long_side, short_side = FLOOR_ITEMS[name]
        size = (rng.uniform(*long_side), rng.uniform(*short_side))
        spot = _free_spots(rects, occupied, size, rng,
                           against_wall=name in ('bed', 'wardrobe', 'cabinet', 'sofa'))
        if spot is not None:
            occupied.append(spot)
            parts += builder(spot, rng)
    return parts + _walls_parts(rects, height, rng, thick=max(0.04, 1.05 * voxel_size))


def _paint(shape, centres, rects, height: float, parts: List[Part], rng: np.random.Generator):
    """Occupancy, labels and float colour of the room's shell (walls, floor, ceiling) and
    parts on the voxel grid whose centres are ``centres``."""
    labels = np.zeros(shape, np.uint8)
    rgb = np.zeros((3, ) + shape, np.float32)
    inside_xy = np.zeros(shape[:2], bool)
    for r in rects:
        inside_xy |= ((centres[0][..., 0] >= r[0]) & (centres[0][..., 0] < r[2]) &
                      (centres[1][..., 0] >= r[1]) & (centres[1][..., 0] < r[3]))
    z = centres[2]
    shell_parts = [
        (~inside_xy[..., None] & np.ones_like(z, bool), 'walls'),
        (inside_xy[..., None] & (z < 0), 'floors'),
        (inside_xy[..., None] & (z >= height), 'ceilings'),
    ]
    occ = np.zeros(shape, bool)
    for mask, name in shell_parts:
        mask = np.broadcast_to(mask, shape)
        base = np.array(material(name, rng), np.float32)
        tex = _texture(shape, 'floor' if name == 'floors' else 'wall', rng)
        labels[mask] = CLS[name]
        rgb[:, mask] = (base[:, None] * tex[mask][None])
        occ |= mask
    for part in parts:
        mask = _rasterise(part, centres)
        labels[mask] = part[2]
        rgb[:, mask] = np.asarray(part[3], np.float32)[:, None]
        occ |= mask
    return occ, labels, rgb


def _distance_field(occ: np.ndarray, labels: np.ndarray, rgb: np.ndarray):
    """Truncated signed distance in voxels (positive in free space) of the occupancy, zero half
    way between occupied and free voxel centres; free voxels in the truncation band take the
    label and colour of their nearest surface, free space beyond it is void (in place)."""
    # One transform of the free space gives both its distances and each free voxel's
    # nearest occupied voxel.
    dist_out, nearest_occ = ndimage.distance_transform_edt(~occ, return_indices=True)
    dist_in = ndimage.distance_transform_edt(occ, return_indices=False)
    tsdf = np.where(occ, -(dist_in - 0.5), dist_out - 0.5).clip(-TRUNCATION, TRUNCATION)
    band = ~occ & (tsdf < TRUNCATION)
    idx = tuple(n[band] for n in nearest_occ)
    labels[band] = labels[idx]
    rgb[:, band] = rgb[(slice(None), ) + idx]
    far = ~occ & ~band
    labels[far] = CLS['void']
    rgb[:, far] = 0
    return tsdf


def generate_room(seed: int, voxel_size: float = 0.04, room_type: Optional[str] = None,
                  max_extent: Optional[float] = None) -> Room:
    """A furnished room, deterministic for ``seed``.

    Args:
        seed (int): Random seed; the same seed gives the same arrays.
        voxel_size (float): Voxel edge in metres. Defaults to 0.04 (the paper's).
        room_type (str, optional): ``'bedroom'`` or ``'living'``; random by default.
        max_extent (float, optional): Clamp the footprint sides (metres), e.g. for CPU demos.
    """
    rng = np.random.default_rng(seed)
    room_type = room_type or ('bedroom' if rng.random() < 0.5 else 'living')
    bbox, rects = _footprint(rng)
    if max_extent is not None:
        scale = min(1.0, max_extent / max(bbox[2], bbox[3]))
        bbox = bbox * scale
        rects = [tuple(v * scale for v in r) for r in rects]
    height = rng.uniform(2.6, 3.0)
    parts = _furnish(rects, room_type, height, voxel_size, rng)

    # Volume: interior bbox plus the wall shell on every side.
    lo = np.array([bbox[0] - WALL_THICKNESS, bbox[1] - WALL_THICKNESS, -WALL_THICKNESS])
    hi = np.array([bbox[2] + WALL_THICKNESS, bbox[3] + WALL_THICKNESS, height + WALL_THICKNESS])
    shape = tuple(int(v) for v in np.ceil((hi - lo) / voxel_size))
    origin = lo + voxel_size / 2
    axes = [origin[i] + voxel_size * np.arange(shape[i]) for i in range(3)]
    centres = (axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :])
    occ, labels, rgb = _paint(shape, centres, rects, height, parts, rng)
    tsdf = _distance_field(occ, labels, rgb)

    camera_world = np.array([(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2,
                             rng.uniform(1.4, 1.8)])
    camera = _nearest_free(tsdf, (camera_world - origin) / voxel_size)
    return Room(tsdf=tsdf.astype(np.float32), rgb=np.clip(rgb, 0, 255).astype(np.uint8),
                labels=labels, voxel_size=voxel_size, origin=origin.astype(np.float32),
                camera=camera.astype(np.float32), room_type=room_type,
                meta=dict(seed=seed, height=height, num_parts=len(parts)))


def _nearest_free(tsdf: np.ndarray, point: np.ndarray) -> np.ndarray:
    """The free voxel closest to ``point``; the camera stands there.

    Free is the truncation distance from every surface; in rooms too small (or voxels too
    coarse) for that, the voxels farthest from any surface.
    """
    level = min(TRUNCATION, float(tsdf.max()))
    if level <= 0:
        raise ValueError('generated room has no free space for the panorama camera')
    free = np.argwhere(tsdf >= level)
    return free[np.argmin(((free - point)**2).sum(1))].astype(np.float64)
