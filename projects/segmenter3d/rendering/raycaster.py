# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Ray casting of a TSDF volume into a panorama: pixel -> first surface point.

The TSDF is in voxel units, positive in free space; a voxel index ``(i, j, k)`` is the voxel
centre, and world = origin + voxel_size * index.  The pixel -> surface mapping depends only on
the TSDF and the camera, so it is computed once (no gradients) and reused: ``project`` samples
a field at the hits with ``grid_sample``; for repeated projection of network outputs at the
same hits, :class:`~.projection.HitProjector` turns them into one sparse matrix.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmseg.registry import TASK_UTILS

from .panorama import cube_face_directions, cube_to_equirect, equirect_directions


@dataclass
class RayHits:
    """Per-pixel result of a cast; every field has the image's leading shape (H, W)."""
    points: torch.Tensor  # (H, W, 3) hit point in voxel coordinates (X, Y, Z)
    depth: torch.Tensor  # (H, W) distance from the camera along the ray, in voxels
    valid: torch.Tensor  # (H, W) bool: the ray hit a surface inside the volume

    def to(self, device) -> 'RayHits':
        return RayHits(self.points.to(device), self.depth.to(device), self.valid.to(device))

    def behind(self, camera: torch.Tensor, offset: float = 0.5) -> 'RayHits':
        """The points ``offset`` voxels further along each ray, i.e. inside the surface hit.

        Surfaces lie half way between voxel centres, so the voxel a ray hits is the one just
        behind its zero crossing: sample labels there.
        """
        dirs = F.normalize(self.points - camera.to(self.points), dim=-1)
        return RayHits(self.points + offset * dirs, self.depth + offset, self.valid)


def pinhole_directions(intrinsics: torch.Tensor, height: int, width: int, device=None,
                       dtype=torch.float32) -> torch.Tensor:
    """Camera-frame ray directions (H, W, 3) through pixel centres of a pinhole image, scaled
    to z = 1 (OpenCV axes: x right, y down, z forward; pixel (r, c) is at u = c, v = r)."""
    K = torch.as_tensor(intrinsics, dtype=torch.float64)
    v, u = torch.meshgrid(torch.arange(height, dtype=torch.float64),
                          torch.arange(width, dtype=torch.float64), indexing='ij')
    dirs = torch.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], torch.ones_like(u)],
                       -1)
    return dirs.to(device=device, dtype=dtype)


def _normalise(points: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Voxel coordinates (..., 3) over (X, Y, Z) -> grid_sample's (z, y, x) in [-1, 1]."""
    size = torch.tensor(shape, dtype=points.dtype, device=points.device)
    norm = 2 * points / (size - 1).clamp(min=1) - 1
    return norm.flip(-1)


def sample_volume(volume: torch.Tensor, points: torch.Tensor, mode: str = 'bilinear',
                  padding_mode: str = 'border') -> torch.Tensor:
    """Trilinearly (or nearest) sample (C, X, Y, Z) at voxel coordinates (..., 3) -> (C, ...)."""
    lead = points.shape[:-1]
    grid = _normalise(points.reshape(1, -1, 1, 1, 3), volume.shape[1:]).to(volume.dtype)
    out = F.grid_sample(volume[None], grid, mode=mode, padding_mode=padding_mode,
                        align_corners=True)
    return out.view(volume.shape[0], *lead)


@TASK_UTILS.register_module()
class TSDFRaycaster:
    """Casts one ray per panorama pixel through a TSDF and stops at the first zero crossing.

    Rays advance by ``max(min_step, step_ratio * tsdf)`` voxels (sphere tracing on the
    truncated distance, never more than the truncation), so free space is crossed quickly and
    thin surfaces are not skipped; the crossing from positive to non-positive is refined by
    ``refine_iters`` secant steps between the two bracketing samples.

    Args:
        height (int): Panorama height. Defaults to 512.
        width (int): Panorama width. Defaults to 1024.
        mode (str): ``'equirect'`` casts the panorama's rays directly; ``'cubemap'`` renders
            six 90-degree faces and stitches them (the paper's way). Defaults to 'equirect'.
        face_size (int, optional): Cube face resolution; defaults to ``width // 4``.
        min_step (float): Smallest step in voxels. Defaults to 0.5.
        step_ratio (float): Fraction of the TSDF value stepped in free space. Defaults to 0.8.
        refine_iters (int): Secant refinements of the crossing. Defaults to 2.
        chunk (int): Rays marched at once (memory bound). Defaults to 131072.
    """

    def __init__(self,
                 height: int = 512,
                 width: int = 1024,
                 mode: str = 'equirect',
                 face_size: Optional[int] = None,
                 min_step: float = 0.5,
                 step_ratio: float = 0.8,
                 refine_iters: int = 2,
                 chunk: int = 131072) -> None:
        if mode not in ('equirect', 'cubemap'):
            raise ValueError(f"TSDFRaycaster: mode must be 'equirect' or 'cubemap', got {mode!r}")
        if height <= 0 or width <= 0:
            raise ValueError(f'TSDFRaycaster: panorama size must be positive, got {height}x{width}')
        self.height, self.width, self.mode = height, width, mode
        self.face_size = face_size or max(1, width // 4)
        self.min_step, self.step_ratio = min_step, step_ratio
        self.refine_iters, self.chunk = refine_iters, chunk

    # ------------------------------------------------------------------ casting
    @torch.no_grad()
    def cast_rays(self, tsdf: torch.Tensor, origin: torch.Tensor,
                  dirs: torch.Tensor) -> RayHits:
        """March rays (..., 3) from ``origin`` (3,) (voxel coordinates) through tsdf (X, Y, Z)."""
        if tsdf.dim() != 3:
            raise ValueError(f'TSDFRaycaster: tsdf must have shape (X, Y, Z), got '
                             f'{tuple(tsdf.shape)}')
        lead = dirs.shape[:-1]
        dirs = F.normalize(dirs.reshape(-1, 3).to(tsdf), dim=-1)
        origin = torch.as_tensor(origin, dtype=tsdf.dtype, device=tsdf.device).view(1, 3)
        volume = tsdf[None].float() if tsdf.dtype == torch.float16 else tsdf[None]
        depth = torch.zeros(dirs.shape[0], dtype=tsdf.dtype, device=tsdf.device)
        valid = torch.zeros(dirs.shape[0], dtype=torch.bool, device=tsdf.device)
        for start in range(0, dirs.shape[0], self.chunk):
            sl = slice(start, start + self.chunk)
            depth[sl], valid[sl] = self._march(volume, origin, dirs[sl])
        points = origin + depth[:, None] * dirs
        return RayHits(points.view(*lead, 3), depth.view(lead), valid.view(lead))

    def _march(self, volume, origin, dirs):
        shape = volume.shape[1:]
        upper = torch.tensor(shape, dtype=dirs.dtype, device=dirs.device) - 1
        n = dirs.shape[0]
        t = torch.zeros(n, dtype=dirs.dtype, device=dirs.device)
        prev_sdf = sample_volume(volume, origin.expand(n, 3))[0]
        # A camera inside an object (or outside the volume) sees nothing.
        inside = ((origin >= 0) & (origin <= upper)).all()
        active = (prev_sdf > 0) & inside
        hit_t = torch.zeros_like(t)
        hit = torch.zeros(n, dtype=torch.bool, device=dirs.device)
        max_steps = int(upper.norm().item() / self.min_step) + 2
        idx = torch.arange(n, device=dirs.device)
        for _ in range(max_steps):
            if not active.any():
                break
            ids = idx[active]
            step = (prev_sdf[ids] * self.step_ratio).clamp(min=self.min_step)
            t_new = t[ids] + step
            p = origin + t_new[:, None] * dirs[ids]
            in_vol = ((p >= 0) & (p <= upper)).all(-1)
            sdf = sample_volume(volume, p)[0]
            crossed = in_vol & (sdf <= 0)
            if crossed.any():
                c = ids[crossed]
                hit_t[c] = self._refine(volume, origin, dirs[c], t[c], t_new[crossed],
                                        prev_sdf[c], sdf[crossed])
                hit[c] = True
            t[ids] = t_new
            prev_sdf[ids] = sdf
            active[ids] = in_vol & ~crossed
        return hit_t, hit

    def _refine(self, volume, origin, dirs, t0, t1, s0, s1):
        """Secant iterations keeping the crossing bracketed in [t0, t1]."""
        for _ in range(self.refine_iters):
            tm = t0 + (t1 - t0) * (s0 / (s0 - s1).clamp(min=1e-6))
            sm = sample_volume(volume, origin + tm[:, None] * dirs)[0]
            pos = sm > 0
            t0, s0 = torch.where(pos, tm, t0), torch.where(pos, sm, s0)
            t1, s1 = torch.where(pos, t1, tm), torch.where(pos, s1, sm)
        return t0 + (t1 - t0) * (s0 / (s0 - s1).clamp(min=1e-6))

    def cast(self, tsdf: torch.Tensor, camera: Union[torch.Tensor, Sequence[float]]) -> RayHits:
        """Panorama hits from ``camera`` (voxel coordinates), in this caster's ``mode``."""
        device, dtype = tsdf.device, tsdf.dtype
        camera = torch.as_tensor(camera, dtype=dtype, device=device)
        if self.mode == 'equirect':
            dirs = equirect_directions(self.height, self.width, device, dtype)
            return self.cast_rays(tsdf, camera, dirs)
        faces = self.cast_rays(tsdf, camera, cube_face_directions(self.face_size, device, dtype))
        # Stitch radial depth; a panorama pixel is valid only where its whole face footprint is.
        stacked = torch.stack([faces.depth, faces.valid.to(dtype)], dim=1)  # (6, 2, F, F)
        pano = cube_to_equirect(stacked, self.height, self.width)
        depth, valid = pano[0], pano[1] > 1 - 1e-3
        dirs = equirect_directions(self.height, self.width, device, dtype)
        return RayHits(camera + depth[..., None] * dirs, depth, valid)

    def cast_pinhole(self, tsdf: torch.Tensor, intrinsics, pose, size: Tuple[int, int],
                     voxel_size: float = 1.0, origin=(0., 0., 0.)) -> RayHits:
        """Hits of a pinhole camera's pixels (the caster's panorama size is not used).

        Args:
            tsdf (Tensor): (X, Y, Z) voxel units, positive in free space.
            intrinsics: (3, 3) pinhole matrix (fx, fy, cx, cy at [0,0], [1,1], [0,2], [1,2]).
            pose: (4, 4) camera-to-world, OpenCV axes, world in metres.
            size (tuple): Image (height, width).
            voxel_size (float): Metres per voxel. Defaults to 1.0 (world = voxel units).
            origin: World position (metres) of the centre of voxel (0, 0, 0).

        Returns:
            RayHits: (H, W) hits in voxel coordinates; ``depth`` is the distance along the
            ray in voxels (:meth:`pinhole_depth` turns it into z-depth in metres).
        """
        camera, dirs = self._pinhole_rays(tsdf, intrinsics, pose, size, voxel_size, origin)
        return self.cast_rays(tsdf, camera, dirs)

    @staticmethod
    def _pinhole_rays(tsdf, intrinsics, pose, size, voxel_size, origin):
        pose = torch.as_tensor(pose, dtype=torch.float64)
        if pose.shape != (4, 4) or not torch.isfinite(pose).all():
            raise ValueError(f'TSDFRaycaster: pose must be a finite 4x4 matrix, got '
                             f'{tuple(pose.shape)}')
        origin = torch.as_tensor(origin, dtype=torch.float64).view(3)
        camera = ((pose[:3, 3] - origin) / voxel_size).to(tsdf.device, tsdf.dtype)
        dirs = pinhole_directions(intrinsics, *size, dtype=torch.float64) @ pose[:3, :3].T
        return camera, dirs.to(tsdf.device, tsdf.dtype)

    @staticmethod
    def pinhole_depth(hits: RayHits, intrinsics, voxel_size: float = 1.0) -> torch.Tensor:
        """(H, W) z-depth in metres of :meth:`cast_pinhole`'s hits, 0 where nothing was hit
        (ScanNet's depth convention)."""
        H, W = hits.valid.shape
        dirs = pinhole_directions(intrinsics, H, W, hits.depth.device, hits.depth.dtype)
        z = hits.depth * voxel_size / dirs.norm(dim=-1)
        return torch.where(hits.valid, z, torch.zeros_like(z))

    def render_pinhole(self, tsdf: torch.Tensor, intrinsics, pose, size: Tuple[int, int],
                       voxel_size: float = 1.0, origin=(0., 0., 0.),
                       rgb: Optional[torch.Tensor] = None,
                       labels: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """A pinhole RGB-D (+ label) frame of a room: what a depth camera there would record.

        Colour is read trilinearly at the first hit, labels at the voxel just behind it (as in
        the panoramas). Returns ``depth`` (H, W) z-depth in metres (0: no hit), ``valid``
        (H, W) bool, ``hits``, and ``rgb`` (H, W, 3) uint8 (0: no hit) and ``labels`` (H, W)
        uint8 (255: no hit) when given as (3, X, Y, Z) and (X, Y, Z).
        """
        camera, dirs = self._pinhole_rays(tsdf, intrinsics, pose, size, voxel_size, origin)
        hits = self.cast_rays(tsdf, camera, dirs)
        out = dict(hits=hits, valid=hits.valid,
                   depth=self.pinhole_depth(hits, intrinsics, voxel_size))
        if rgb is not None:
            colour = self.project(rgb.float(), hits)
            out['rgb'] = colour.round().clamp(0, 255).byte().permute(1, 2, 0)
        if labels is not None:
            lab = self.project(labels[None].float(), hits.behind(camera), mode='nearest',
                               fill=255)[0]
            out['labels'] = lab.round().byte()
        return out

    # ------------------------------------------------------------------ projection
    @staticmethod
    def project(values: torch.Tensor, hits: RayHits, mode: str = 'bilinear',
                fill: float = 0.) -> torch.Tensor:
        """Sample a per-voxel field at the hits: (C, X, Y, Z) -> (C, H, W), differentiable.

        ``mode='nearest'`` for labels. Pixels without a hit get ``fill``. To project many
        fields at the same hits, build a :class:`~.projection.HitProjector` once instead.
        """
        if values.dim() != 4:
            raise ValueError(f'project: values must have shape (C, X, Y, Z), got '
                             f'{tuple(values.shape)}')
        out = sample_volume(values, hits.points.to(values.device), mode=mode)
        valid = hits.valid.to(values.device)
        return torch.where(valid, out, torch.full_like(out, fill))
