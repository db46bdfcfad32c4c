# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Trilinear resizing as three 1-D interpolation matrix products.

``F.interpolate(x, size, mode='trilinear', align_corners=False)`` is separable: resizing axis
by axis with the (out, in) matrix of 1-D linear interpolation gives the same result. Written
as matrix products, each pass is one GEMM (fast on CPU and GPU, forward and backward) and the
backward never materialises more than the output gradient itself; torch's native CPU kernel
spends several times longer on the full-resolution logits of 3D Segmenter (see
``benchmarks/RESULTS.md``).
"""
from functools import lru_cache
from typing import Sequence

import torch
from torch import Tensor


@lru_cache(maxsize=64)
def _matrix_cpu(in_size: int, out_size: int) -> Tensor:
    # torch's source index for align_corners=False: (dst + 0.5) * in / out - 0.5, clamped at 0
    src = ((torch.arange(out_size, dtype=torch.float64) + 0.5) * (in_size / out_size) -
           0.5).clamp(min=0)
    lo = src.floor().long().clamp(max=in_size - 1)
    hi = (lo + 1).clamp(max=in_size - 1)
    frac = src - lo
    rows = torch.arange(out_size)
    matrix = torch.zeros(out_size, in_size, dtype=torch.float64)
    matrix.index_put_((rows, lo), 1 - frac, accumulate=True)
    matrix.index_put_((rows, hi), frac, accumulate=True)
    return matrix


def interpolation_matrix(in_size: int, out_size: int, like: Tensor) -> Tensor:
    """(out_size, in_size) 1-D linear interpolation matrix (align_corners=False), whose rows
    sum to 1, in ``like``'s dtype and device."""
    if in_size <= 0 or out_size <= 0:
        raise ValueError(f'interpolation_matrix: sizes must be positive, got {in_size} -> '
                         f'{out_size}')
    return _matrix_cpu(in_size, out_size).to(device=like.device, dtype=like.dtype)


def _upsample_hw(x: Tensor, size: Sequence[int]) -> Tensor:
    """The last two axes of (B, C, D, H, W) resized: (B C D, Ho, Wo)."""
    B, C, D, H, W = x.shape
    mh, mw = (interpolation_matrix(i, o, x) for i, o in ((H, size[1]), (W, size[2])))
    x = x.reshape(-1, W) @ mw.t()  # (B C D H, Wo)
    return mh @ x.view(B * C * D, H, -1)  # (B C D, Ho, Wo)


def trilinear_upsample(x: Tensor, size: Sequence[int]) -> Tensor:
    """Resize (B, C, D, H, W) to (B, C, *size); equals ``F.interpolate(..., 'trilinear',
    align_corners=False)`` up to float rounding, and is differentiable.

    Args:
        x (Tensor): Shape (B, C, D, H, W).
        size (Sequence[int]): Output (D', H', W').

    Returns:
        Tensor: Shape (B, C, D', H', W'), contiguous.
    """
    _check(x, size)
    B, C, D = x.shape[:3]
    Do, Ho, Wo = (int(s) for s in size)
    # Smallest passes first: W, then H, then D (the pass that writes the output).
    x = _upsample_hw(x, size).view(B * C, D, Ho * Wo)
    return (interpolation_matrix(D, Do, x) @ x).view(B, C, Do, Ho, Wo)


class _UpsampleAddProjection(torch.autograd.Function):
    """out = (D-axis interpolation of y) + weight @ volume, written once into one tensor."""

    @staticmethod
    def forward(ctx, y: Tensor, md: Tensor, weight: Tensor, volume: Tensor) -> Tensor:
        B, Cv = volume.shape[:2]
        K = weight.shape[0]
        out = y.new_empty((B, K, md.shape[0]) + tuple(volume.shape[3:]))
        torch.bmm(md.expand(B * K, -1, -1), y, out=out.view(B * K, md.shape[0], -1))
        out.view(B, K, -1).baddbmm_(weight.expand(B, K, Cv), volume.flatten(2))
        ctx.save_for_backward(md, weight, volume)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        md, weight, volume = ctx.saved_tensors
        B, K = grad.shape[:2]
        grad = grad.contiguous()
        grad_y = md.t() @ grad.view(B * K, md.shape[0], -1)
        flat = grad.view(B, K, -1)
        grad_w = (flat @ volume.flatten(2).transpose(1, 2)).sum(0)
        grad_v = None
        if ctx.needs_input_grad[3]:
            grad_v = (weight.t() @ flat).view(volume.shape)
        return grad_y, None, grad_w, grad_v


def trilinear_upsample_add_projection(x: Tensor, weight: Tensor, volume: Tensor) -> Tensor:
    """``trilinear_upsample(x, volume.shape[2:]) + einsum('kc,bc...->bk...', weight, volume)``.

    The full-resolution result is allocated once and both terms are written into it (the
    3D Segmenter head's upsampled token logits plus its skip from the raw input), with no
    in-place update that autograd would have to copy.

    Args:
        x (Tensor): (B, K, D, H, W) low-resolution logits.
        weight (Tensor): (K, Cv) projection of the volume's channels.
        volume (Tensor): (B, Cv, D', H', W').

    Returns:
        Tensor: (B, K, D', H', W'), contiguous.
    """
    size = volume.shape[2:]
    _check(x, size)
    if weight.shape != (x.shape[1], volume.shape[1]):
        raise ValueError(f'trilinear_upsample_add_projection: weight {tuple(weight.shape)} '
                         f'does not map {volume.shape[1]} volume channels to {x.shape[1]}')
    B, K, D = x.shape[:3]
    y = _upsample_hw(x, size).view(B * K, D, -1)
    md = interpolation_matrix(D, int(size[0]), y)
    return _UpsampleAddProjection.apply(y, md, weight.to(y.dtype), volume.to(y.dtype))


def _check(x: Tensor, size: Sequence[int]) -> None:
    if x.dim() != 5 or len(size) != 3:
        raise ValueError(f'trilinear_upsample: expected (B, C, D, H, W) and a 3-D size, got '
                         f'{tuple(x.shape)} and {tuple(size)}')
