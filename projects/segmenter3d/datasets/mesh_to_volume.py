# Copyright (c) 3D Segmenter authors. All rights reserved.
"""A triangle mesh with vertex colours (and labels) to a room volume in our format.

The mesh is sampled densely (barycentric grids, spacing a quarter voxel) and every voxel centre
within the truncation band takes its distance to the nearest sample, signed by that sample's
face normal (positive on the side the normal points to, i.e. the scanned free space of a
ScanNet reconstruction), its colour (barycentric) and its label (nearest corner). Voxels
outside the band are +3 (free or never seen) with label 255. Mesh winding is checked against
the floor: when most floor faces point down, every normal is flipped.
"""
from typing import Dict, Optional

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ..encoding import IGNORE_INDEX as IGNORE
from ..encoding import TRUNCATION

MAX_SURFACE_SAMPLES = 40_000_000  # about 2.2 GB of samples; a ScanNet scene takes ~1 M


def sample_surface(vertices: np.ndarray, faces: np.ndarray, spacing: float,
                   max_steps: int = 512, max_points: Optional[int] = MAX_SURFACE_SAMPLES):
    """Points on every triangle at most ~``spacing`` apart.

    Returns:
        tuple: points (P, 3), face index (P, ) and barycentric weights (P, 3).
    """
    tri = vertices[faces]
    edges = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(1)
    steps = np.clip(np.ceil(edges / spacing), 1, max_steps).astype(np.int64)
    count = int(((steps + 1) * (steps + 2) // 2).sum())  # 56 bytes each once sampled
    if max_points is not None and count > max_points:
        raise ValueError(f'mesh_to_volume: sampling the surface every {spacing:g} m takes '
                         f'{count:,} points, more than {max_points:,} (faces far larger than '
                         'a voxel); use a larger voxel size (tools/infer.py: --no-limits '
                         'lifts this)')
    points, face_ids, weights = [], [], []
    for k in np.unique(steps):
        i, j = np.meshgrid(np.arange(k + 1), np.arange(k + 1), indexing='ij')
        keep = (i + j) <= k
        bary = np.stack([i[keep], j[keep], k - i[keep] - j[keep]], 1) / k  # (B, 3)
        sel = np.nonzero(steps == k)[0]
        points.append(np.einsum('bc,fcd->fbd', bary, tri[sel]).reshape(-1, 3))
        face_ids.append(np.repeat(sel, len(bary)))
        weights.append(np.tile(bary, (len(sel), 1)))
    return np.concatenate(points), np.concatenate(face_ids), np.concatenate(weights)


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def orient_by_floor(vertices: np.ndarray, faces: np.ndarray, labels: Optional[np.ndarray],
                    floor_class: int = 1) -> np.ndarray:
    """Faces re-wound so that floor faces (all corners ``floor_class``) point up (+Z)."""
    if labels is None:
        return faces
    floor = (labels[faces] == floor_class).all(1)
    if floor.sum() == 0:
        return faces
    up = face_normals(vertices, faces[floor])[:, 2]
    return faces[:, ::-1].copy() if np.median(up) < 0 else faces


def _camera(tsdf: np.ndarray, surface_z: np.ndarray, voxel_size: float) -> np.ndarray:
    """A viewpoint 1.4 m above the lowest surface, as far from every surface as possible."""
    z = int(min(surface_z.min() + round(1.4 / voxel_size), tsdf.shape[2] - 1))
    free = np.pad(tsdf[:, :, z] >= TRUNCATION, 1)  # the slice border counts as a wall
    dist = ndimage.distance_transform_edt(free)[1:-1, 1:-1]
    x, y = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return np.array([x, y, z], np.float32)


def mesh_to_volume(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray,
                   labels: Optional[np.ndarray] = None, voxel_size: float = 0.04,
                   padding: int = 4,
                   max_samples: Optional[int] = MAX_SURFACE_SAMPLES) -> Dict[str, np.ndarray]:
    """Voxelise a mesh into our room format.

    Args:
        vertices (np.ndarray): (N, 3) metres, Z up.
        faces (np.ndarray): (F, 3) vertex indices; normals point into the free space.
        colors (np.ndarray): (N, 3) uint8 RGB.
        labels (np.ndarray, optional): (N, ) uint8 class per vertex (255 = ignored).
        voxel_size (float): metres. Defaults to 0.04 (ScanNet benchmark volumes).
        padding (int): voxels of free space around the mesh's bounding box.
        max_samples (int, optional): refuse meshes whose surface takes more sample points
            (56 bytes each; faces far larger than a voxel); None for no limit.

    Returns:
        dict: ``tsdf`` (X, Y, Z) float32 voxel units, ``rgb`` (3, X, Y, Z) uint8, ``labels``
        (X, Y, Z) uint8, ``voxel_size``, ``origin`` (3, ) (world position of voxel (0, 0, 0)'s
        centre), ``camera`` (3, ) voxel coordinates, ``vertex_voxel`` (N, 3) int32 (the voxel
        each vertex falls in; predictions map back to the mesh through it).
    """
    if voxel_size <= 0:
        raise ValueError(f'mesh_to_volume: voxel_size must be positive, got {voxel_size}')
    faces = orient_by_floor(vertices, faces, labels)
    origin = vertices.min(0) - padding * voxel_size
    shape = tuple(int(s) for s in np.ceil((vertices.max(0) - origin) / voxel_size) + padding + 1)
    points, face_id, bary = sample_surface(vertices, faces, voxel_size / 4,
                                           max_points=max_samples)
    grid_pts = (points - origin) / voxel_size  # voxel coordinates (centres at integers)

    # candidate voxels: within the band of some sample
    near = np.zeros(shape, bool)
    idx = np.clip(np.round(grid_pts).astype(np.int64), 0, np.array(shape) - 1)
    near[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    reach = int(np.ceil(TRUNCATION)) + 1
    near = ndimage.binary_dilation(near, ndimage.generate_binary_structure(3, 1), reach)
    cand = np.argwhere(near)

    tree = cKDTree(grid_pts)
    dist, nearest = tree.query(cand, distance_upper_bound=TRUNCATION)
    hit = np.isfinite(dist)
    cand, dist, nearest = cand[hit], dist[hit], nearest[hit]
    normal = face_normals(vertices, faces)[face_id[nearest]]
    side = np.einsum('nd,nd->n', cand - grid_pts[nearest], normal)
    sdf = np.where(side < 0, -dist, dist).astype(np.float32)

    tsdf = np.full(shape, TRUNCATION, np.float32)
    tsdf[tuple(cand.T)] = sdf
    corners = faces[face_id[nearest]]  # (M, 3) vertex ids
    w = bary[nearest]
    rgb = np.zeros((3, ) + shape, np.uint8)
    rgb[(slice(None), ) + tuple(cand.T)] = np.einsum('mc,mcd->dm', w,
                                                     colors[corners].astype(np.float32)
                                                     ).round().clip(0, 255).astype(np.uint8)
    out_labels = np.full(shape, IGNORE, np.uint8)
    if labels is not None:
        corner = corners[np.arange(len(w)), w.argmax(1)]
        out_labels[tuple(cand.T)] = labels[corner]
    vertex_voxel = np.clip(np.round((vertices - origin) / voxel_size), 0,
                           np.array(shape) - 1).astype(np.int32)
    return dict(tsdf=tsdf, rgb=rgb, labels=out_labels,
                voxel_size=np.float32(voxel_size), origin=origin.astype(np.float32),
                camera=_camera(tsdf, cand[np.abs(sdf) < 1, 2], voxel_size),
                vertex_voxel=vertex_voxel)
