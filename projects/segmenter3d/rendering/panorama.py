# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Equirectangular panorama and cube-map geometry (pure torch, no learned parts).

Convention: an H x W equirectangular image spans longitude -pi..pi from the left column to the
right one and latitude +pi/2 (up, +Z) at the top row to -pi/2 at the bottom; world Z is up.
"""
from typing import Tuple

import torch

# Cube faces in the paper's order (+X, -X, +Y, -Y, +Z, -Z): (forward, right, up) unit axes.
CUBE_FACES = (
    ((1, 0, 0), (0, -1, 0), (0, 0, 1)),
    ((-1, 0, 0), (0, 1, 0), (0, 0, 1)),
    ((0, 1, 0), (1, 0, 0), (0, 0, 1)),
    ((0, -1, 0), (-1, 0, 0), (0, 0, 1)),
    ((0, 0, 1), (0, -1, 0), (-1, 0, 0)),
    ((0, 0, -1), (0, -1, 0), (1, 0, 0)),
)


def equirect_directions(height: int, width: int, device=None,
                        dtype=torch.float32) -> torch.Tensor:
    """Unit ray directions (H, W, 3) through pixel centres of an equirectangular image."""
    lon = (torch.arange(width, device=device, dtype=dtype) + 0.5) / width * 2 * torch.pi - torch.pi
    rows = torch.arange(height, device=device, dtype=dtype)
    lat = torch.pi / 2 - (rows + 0.5) / height * torch.pi
    lat, lon = torch.meshgrid(lat, lon, indexing='ij')
    return torch.stack([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()], dim=-1)


def directions_to_equirect(dirs: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Continuous (row, col) pixel coordinates (..., 2) of directions (..., 3); inverse of
    :func:`equirect_directions` (pixel centres at integer + 0.5)."""
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    lon = torch.atan2(dirs[..., 1], dirs[..., 0])
    lat = torch.asin(dirs[..., 2].clamp(-1, 1))
    col = (lon + torch.pi) / (2 * torch.pi) * width
    row = (torch.pi / 2 - lat) / torch.pi * height
    return torch.stack([row, col], dim=-1)


def _face_axes(device, dtype) -> torch.Tensor:
    return torch.tensor(CUBE_FACES, device=device, dtype=dtype)  # (6, 3, 3)


def cube_face_directions(face_size: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Unnormalised ray directions (6, F, F, 3) of six 90-degree pinhole faces.

    Row r, column c of a face looks along ``forward + u * right + v * up`` with
    u = -1..1 left to right and v = 1..-1 top to bottom (pixel centres).
    """
    t = (torch.arange(face_size, device=device, dtype=dtype) + 0.5) / face_size * 2 - 1
    v, u = torch.meshgrid(-t, t, indexing='ij')
    axes = _face_axes(device, dtype)
    fwd, right, up = axes[:, 0], axes[:, 1], axes[:, 2]
    return (fwd[:, None, None] + u[None, ..., None] * right[:, None, None] +
            v[None, ..., None] * up[:, None, None])


def directions_to_cube(dirs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Face index (...,) and face coordinates (..., 2) as (u, v) in [-1, 1] of directions."""
    axes = _face_axes(dirs.device, dirs.dtype)
    fwd_dot = dirs @ axes[:, 0].T  # (..., 6)
    face = fwd_dot.argmax(dim=-1)
    chosen = axes[face]  # (..., 3, 3)
    depth = fwd_dot.gather(-1, face[..., None])[..., 0]
    u = (dirs * chosen[..., 1, :]).sum(-1) / depth
    v = (dirs * chosen[..., 2, :]).sum(-1) / depth
    return face, torch.stack([u, v], dim=-1)


def cube_to_equirect(faces: torch.Tensor, height: int, width: int,
                     mode: str = 'bilinear') -> torch.Tensor:
    """Stitch per-face maps (6, C, F, F) into an equirectangular (C, H, W) image.

    Each panorama pixel samples the face its ray leaves through, at the continuous face
    coordinate (``grid_sample``, border padding so face seams interpolate within a face).
    """
    dirs = equirect_directions(height, width, faces.device, faces.dtype if
                               faces.is_floating_point() else torch.float32)
    face, uv = directions_to_cube(dirs)
    out = faces.new_zeros((faces.shape[1], height, width))
    src = faces if faces.is_floating_point() else faces.float()
    for f in range(6):
        sel = face == f
        if not sel.any():
            continue
        # grid x follows columns (u), grid y follows rows (v points up, rows go down).
        grid = torch.stack([uv[sel][:, 0], -uv[sel][:, 1]], dim=-1).view(1, 1, -1, 2)
        sampled = torch.nn.functional.grid_sample(src[f:f + 1], grid.to(src.dtype), mode=mode,
                                                  padding_mode='border', align_corners=False)
        out[:, sel] = sampled[0, :, 0].to(out.dtype)
    return out
