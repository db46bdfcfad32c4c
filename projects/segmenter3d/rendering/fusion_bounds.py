# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The grid a TSDF fusion needs: the world-space box the frames' valid depth reaches, and the
shape and origin of a voxel grid covering a box (the conventions of :mod:`.fusion`)."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor


def depth_bounds(depth: Tensor, intrinsics: Tensor, poses: Tensor,
                 stride: int = 4) -> Optional[Tuple[Tensor, Tensor]]:
    """World-space (min, max) corners (3,) of the valid depth (> 0) of frames, or None.

    Args:
        depth (Tensor): (B, H, W) metres, 0 where invalid.
        intrinsics (Tensor): (B, 3, 3) or (3, 3).
        poses (Tensor): (B, 4, 4) camera-to-world.
        stride (int): Pixel subsampling. Defaults to 4.
    """
    depth = depth[:, ::stride, ::stride]
    B, H, W = depth.shape
    K = (intrinsics if intrinsics.dim() == 3 else intrinsics[None]).to(depth).expand(B, 3, 3)
    v, u = torch.meshgrid(torch.arange(H, device=depth.device, dtype=depth.dtype) * stride,
                          torch.arange(W, device=depth.device, dtype=depth.dtype) * stride,
                          indexing='ij')
    x = (u - K[:, 0, 2, None, None]) / K[:, 0, 0, None, None] * depth
    y = (v - K[:, 1, 2, None, None]) / K[:, 1, 1, None, None] * depth
    cam = torch.stack([x, y, depth], -1)  # (B, H, W, 3)
    world = cam @ poses[:, :3, :3].to(depth).transpose(1, 2)[:, None] + \
        poses[:, None, None, :3, 3].to(depth)
    world = world[depth > 0]
    if len(world) == 0:
        return None
    return world.min(0).values, world.max(0).values


def grid_from_bounds(lo: Sequence[float], hi: Sequence[float], voxel_size: float,
                     margin: float) -> Tuple[Tuple[int, int, int], Tensor]:
    """Shape (X, Y, Z) and origin (3,) (centre of voxel 0) of a grid covering [lo, hi] plus
    ``margin`` metres on every side."""
    lo = torch.as_tensor(lo, dtype=torch.float64) - margin
    hi = torch.as_tensor(hi, dtype=torch.float64) + margin
    shape = tuple(int(n) for n in torch.ceil((hi - lo) / voxel_size).long() + 1)
    return shape, lo.float()
