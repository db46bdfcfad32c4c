# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Coloured surface meshes of label volumes (marching cubes on the TSDF, PLY output)."""
from typing import Optional, Sequence

import numpy as np
from plyfile import PlyData, PlyElement
from skimage import measure

from ..fileio import atomic_path
from .drawing import colorize


def label_mesh(tsdf: np.ndarray, labels: np.ndarray, palette: Sequence[Sequence[int]],
               voxel_size: float = 1.0, origin: Optional[Sequence[float]] = None):
    """The TSDF's zero surface with each vertex coloured by the label of the nearest solid voxel.

    Returns:
        tuple: vertices (V, 3) float32 in metres (world frame when ``origin`` is given),
        faces (F, 3) int32, colours (V, 3) uint8, vertex labels (V,) uint8.
    """
    if tsdf.min() >= 0 or tsdf.max() <= 0:
        raise ValueError('label_mesh: the TSDF has no zero crossing (no surface to mesh)')
    verts, faces, _, _ = measure.marching_cubes(np.asarray(tsdf, np.float32), level=0.0)
    # Colour each vertex with the label of the solid voxel it belongs to: marching cubes puts
    # every vertex on an edge between two neighbouring voxels, one solid (tsdf < 0) and one
    # free; the solid one, the lower TSDF of the two, is the object (and the nearest solid
    # voxel to the vertex). Per vertex, no room-sized distance transform.
    top = np.array(tsdf.shape) - 1
    lo = np.clip(np.floor(verts).astype(np.int64), 0, top)
    hi = np.clip(np.ceil(verts).astype(np.int64), 0, top)
    lower = tsdf[lo[:, 0], lo[:, 1], lo[:, 2]] <= tsdf[hi[:, 0], hi[:, 1], hi[:, 2]]
    solid = np.where(lower[:, None], lo, hi)
    vert_labels = labels[solid[:, 0], solid[:, 1], solid[:, 2]].astype(np.uint8)
    world = verts * voxel_size + (np.asarray(origin, np.float32) if origin is not None else 0)
    return (world.astype(np.float32), faces.astype(np.int32),
            colorize(vert_labels, palette), vert_labels)


def write_ply(path: str, verts: np.ndarray, faces: np.ndarray, colors: np.ndarray,
              labels: Optional[np.ndarray] = None) -> None:
    """Binary PLY with per-vertex colour (and label), written atomically."""
    fields = [('x', 'f4'), ('y', 'f4'), ('z', 'f4'), ('red', 'u1'), ('green', 'u1'),
              ('blue', 'u1')] + ([('label', 'u1')] if labels is not None else [])
    vertex = np.empty(len(verts), dtype=fields)
    vertex['x'], vertex['y'], vertex['z'] = verts.T
    vertex['red'], vertex['green'], vertex['blue'] = colors.T
    if labels is not None:
        vertex['label'] = labels
    face = np.empty(len(faces), dtype=[('vertex_indices', 'i4', (3, ))])
    face['vertex_indices'] = faces
    with atomic_path(path) as tmp:
        PlyData([PlyElement.describe(vertex, 'vertex'),
                 PlyElement.describe(face, 'face')]).write(tmp)
