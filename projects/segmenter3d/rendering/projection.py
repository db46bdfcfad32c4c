# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Trilinear sampling of per-voxel fields at fixed ray hits, as a sparse matrix.

A panorama pixel whose ray hit a surface reads the 8 voxels around its hit point. For a room
and camera these voxels and their trilinear weights never change, so projecting network
outputs to the panorama is one fixed sparse (pixels x voxels) matrix, applied to whatever the
network predicts: built once per room, then one sparse matrix product forward and one with its
transpose backward. Compared with ``grid_sample`` at the hit points, this skips the per-call
coordinate arithmetic and the scattered backward over the whole (C, X, Y, Z) volume.
"""
import warnings
from typing import Sequence

import torch
from torch import Tensor

from .raycaster import RayHits


def _csr(crow: Tensor, col: Tensor, values: Tensor, shape) -> Tensor:
    """A CSR matrix with int32 indices (columns need not be sorted or unique)."""
    with warnings.catch_warnings():  # torch flags sparse CSR as beta
        warnings.simplefilter('ignore', UserWarning)
        return torch.sparse_csr_tensor(crow.int(), col.int(), values, shape)


def _spmm(matrix: Tensor, dense: Tensor) -> Tensor:
    """``matrix @ dense`` into a fresh uninitialised tensor (``torch.sparse.mm`` zero-fills
    and copies its result, which costs more than the product here)."""
    out = dense.new_empty((matrix.shape[0], dense.shape[1]))
    return torch.addmm(out, matrix, dense, beta=0, out=out)


class _Sample(torch.autograd.Function):
    """(C, X, Y, Z) -> (P, C) values at the P hit pixels; backward scatters to the voxels."""

    @staticmethod
    def forward(ctx, values: Tensor, projector: 'HitProjector') -> Tensor:
        C = values.shape[0]
        used = values.reshape(C, -1).t().index_select(0, projector.voxels)  # (U, C)
        ctx.projector, ctx.shape = projector, values.shape
        return _spmm(projector.matrix, used)

    @staticmethod
    def backward(ctx, grad: Tensor):
        projector, shape = ctx.projector, ctx.shape
        grad_used = _spmm(projector.matrix_t, grad.contiguous())  # (U, C)
        grad_values = grad.new_zeros((shape[0], shape[1:].numel()))
        grad_values.index_copy_(1, projector.voxels, grad_used.t())
        return grad_values.view(shape), None


class HitProjector:
    """Samples (C, X, Y, Z) fields at the hits of one cast: ``projector(values) -> (C, H, W)``.

    Equals ``TSDFRaycaster.project(values, hits)`` (trilinear, voxel coordinates, border
    clamping; pixels without a hit get ``fill``) and is differentiable in ``values``.

    Args:
        hits (RayHits): The cast, with (H, W) leading shape.
        volume_shape (Sequence[int]): (X, Y, Z) of the fields to sample.
        fill (float): Value of pixels whose ray hit nothing. Defaults to 0.
    """

    def __init__(self, hits: RayHits, volume_shape: Sequence[int], fill: float = 0.) -> None:
        if len(volume_shape) != 3 or min(volume_shape) < 1:
            raise ValueError(f'HitProjector: volume_shape must be (X, Y, Z), got '
                             f'{tuple(volume_shape)}')
        self.image_size = tuple(hits.valid.shape)
        self.volume_shape = tuple(int(s) for s in volume_shape)
        self.fill = float(fill)
        self.num_pixels = hits.valid.numel()
        self.valid = hits.valid.clone()
        valid = hits.valid.reshape(-1)
        self.pixels = valid.nonzero()[:, 0]
        points = hits.points.reshape(-1, 3)[valid].double()
        size = torch.tensor(self.volume_shape, dtype=points.dtype, device=points.device)
        points = torch.minimum(points.clamp(min=0), size - 1)
        lo = torch.minimum(points.floor(), (size - 2).clamp(min=0))
        frac = points - lo
        lo = lo.long()
        hi = torch.minimum(lo + 1, (size - 1).long())
        X, Y, Z = self.volume_shape
        index, weight = [], []
        for corner in range(8):
            bits = [(corner >> (2 - a)) & 1 for a in range(3)]
            ids = [hi[:, a] if b else lo[:, a] for a, b in enumerate(bits)]
            w = [frac[:, a] if b else 1 - frac[:, a] for a, b in enumerate(bits)]
            index.append((ids[0] * Y + ids[1]) * Z + ids[2])
            weight.append(w[0] * w[1] * w[2])
        index, weight = torch.stack(index, 1), torch.stack(weight, 1).float()
        # One sort of the 8P corner indices gives the used voxels (U), each entry's column,
        # and the transpose's row order: no COO coalescing.
        flat, weight = index.reshape(-1), weight.reshape(-1)
        order = flat.argsort(stable=True)
        ordered = flat[order]
        first = torch.ones_like(ordered, dtype=torch.bool)
        first[1:] = ordered[1:] != ordered[:-1]
        self.voxels = ordered[first]
        column = torch.empty_like(flat)
        column[order] = first.long().cumsum(0) - 1
        P, U = len(self.pixels), len(self.voxels)
        step8 = torch.arange(0, 8 * P + 1, 8, device=flat.device)
        self.matrix = _csr(step8, column, weight, (P, U))  # row p: its 8 corners
        counts = torch.bincount(column, minlength=U)
        crow_t = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        self.matrix_t = _csr(crow_t, order // 8, weight[order], (U, P))

    @property
    def device(self) -> torch.device:
        return self.pixels.device

    @property
    def nbytes(self) -> int:
        """Memory held by the projector's tensors."""
        total = 0
        for value in self.__dict__.values():
            if isinstance(value, Tensor) and value.layout == torch.sparse_csr:
                total += sum(t.nbytes for t in (value.crow_indices(), value.col_indices(),
                                                value.values()))
            elif isinstance(value, Tensor):
                total += value.nbytes
        return total

    def to(self, device) -> 'HitProjector':
        """This projector on ``device`` (itself when already there)."""
        if torch.device(device) == self.device:
            return self
        return self._replace(**{k: v.to(device) for k, v in self.__dict__.items()
                                if isinstance(v, Tensor)})

    def sample(self, values: Tensor) -> Tensor:
        """(C, X, Y, Z) -> (P, C): the values at the P pixels whose ray hit (``pixels``, in
        raster order), pixel-major; differentiable. The distiller's per-step call."""
        if values.dim() != 4 or tuple(values.shape[1:]) != self.volume_shape:
            raise ValueError(f'HitProjector: values must have shape (C, '
                             f'{", ".join(map(str, self.volume_shape))}), got '
                             f'{tuple(values.shape)}')
        if values.device != self.device:
            raise ValueError(f'HitProjector: values on {values.device}, projector on '
                             f'{self.device}; use projector.to(device)')
        if len(self.pixels) == 0:  # nothing hit: an empty, still differentiable, result
            return values.reshape(values.shape[0], -1)[:, :0].t()
        projector = self if values.dtype == self.matrix.dtype else self._with_dtype(values.dtype)
        return _Sample.apply(values, projector)

    def splat(self, rows: Tensor) -> Tensor:
        """(P, C) values at the hit pixels -> (U, C) at the used voxels (``voxels``): each
        voxel's trilinear-weighted sum of the pixels that read it (the transpose of
        :meth:`sample`). Splatting a column of ones gives each voxel's total weight, by which
        the sums become weighted means."""
        if rows.dim() != 2 or rows.shape[0] != len(self.pixels):
            raise ValueError(f'HitProjector: rows must have shape ({len(self.pixels)}, C), '
                             f'one per hit pixel, got {tuple(rows.shape)}')
        if rows.device != self.device:
            raise ValueError(f'HitProjector: rows on {rows.device}, projector on '
                             f'{self.device}; use projector.to(device)')
        if len(self.pixels) == 0:
            return rows.new_zeros((0, rows.shape[1]))
        projector = self if rows.dtype == self.matrix.dtype else self._with_dtype(rows.dtype)
        return _spmm(projector.matrix_t, rows.contiguous())

    def __call__(self, values: Tensor) -> Tensor:
        """(C, X, Y, Z) -> (C, H, W) panorama; pixels without a hit get ``fill``."""
        rows = self.sample(values)
        out = rows.new_full((rows.shape[1], self.num_pixels), self.fill)
        out = out.index_copy(1, self.pixels, rows.t())
        return out.view(-1, *self.image_size)

    def _with_dtype(self, dtype: torch.dtype) -> 'HitProjector':
        """A shallow copy whose matrices hold ``dtype`` (float64 checks, half on GPU)."""
        return self._replace(matrix=self.matrix.to(dtype), matrix_t=self.matrix_t.to(dtype))

    def _replace(self, **fields) -> 'HitProjector':
        """A shallow copy with some fields replaced."""
        other = object.__new__(HitProjector)
        other.__dict__.update(self.__dict__, **fields)
        return other


def surface_coverage(projectors: Sequence[HitProjector], tsdf: Tensor,
                     threshold: float = 1.0) -> float:
    """Share of a room's surface voxels (``|tsdf| < threshold``) that the hits of the given
    views read: what a panorama teacher can say anything about.

    A voxel is reached when some hit samples it with a non-zero trilinear weight.
    """
    surface = (tsdf.abs() < threshold).reshape(-1)
    total = int(surface.sum())
    if total == 0:
        raise ValueError('surface_coverage: the TSDF has no surface voxel')
    reached = torch.zeros_like(surface)
    for projector in projectors:
        if tuple(tsdf.shape) != projector.volume_shape:
            raise ValueError(f'surface_coverage: a projector of a {projector.volume_shape} '
                             f'room for a TSDF of shape {tuple(tsdf.shape)}')
        matrix_t = projector.matrix_t  # (U, P): row u holds the weights voxel u gets
        per_row = matrix_t.crow_indices().diff()
        rows = torch.repeat_interleave(torch.arange(len(per_row), device=per_row.device),
                                       per_row)
        weight = torch.zeros(len(per_row), dtype=matrix_t.dtype, device=per_row.device)
        weight.index_add_(0, rows, matrix_t.values())
        reached[projector.voxels[weight > 0].to(reached.device)] = True
    return float((reached & surface).sum()) / total
