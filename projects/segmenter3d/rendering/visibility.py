# Copyright (c) 3D Segmenter authors. All rights reserved.
"""What part of a volume a pinhole frame can reach, the two tests TSDF fusion culls with: the
side planes of the frame's frustum, and the range of depth over a rectangle of its pixels
(from a min / max pyramid of the depth image)."""
from typing import Tuple

import torch
from torch import Tensor


def frustum_planes(intrinsics: Tensor, height: int, width: int) -> Tensor:
    """Inward unit normals (B, 4, 3) of the four side planes of pinhole frusta (camera
    frame, planes through the camera centre), from (B, 3, 3) intrinsics."""
    fx, fy = intrinsics[:, 0, 0], intrinsics[:, 1, 1]
    cx, cy = intrinsics[:, 0, 2], intrinsics[:, 1, 2]
    left, right = (-0.5 - cx) / fx, (width - 0.5 - cx) / fx
    top, bottom = (-0.5 - cy) / fy, (height - 0.5 - cy) / fy
    one, zero = torch.ones_like(fx), torch.zeros_like(fx)
    normals = torch.stack([
        torch.stack([one, zero, -left], -1),
        torch.stack([-one, zero, right], -1),
        torch.stack([zero, one, -top], -1),
        torch.stack([zero, -one, bottom], -1),
    ], 1)
    return torch.nn.functional.normalize(normals, dim=-1)


def _tiles(low: Tensor, high: Tensor, s: int) -> Tuple[Tensor, Tensor]:
    """Min of ``low`` and max of ``high`` (B, h, w) over s x s tiles, partial tiles at the
    far edges: (B, ceil(h / s), ceil(w / s)) each."""
    B, h, w = low.shape
    ph, pw = (-h) % s, (-w) % s
    if ph or pw:
        low = torch.nn.functional.pad(low, (0, pw, 0, ph), value=float('inf'))
        high = torch.nn.functional.pad(high, (0, pw, 0, ph), value=0.0)
    h, w = (h + ph) // s, (w + pw) // s
    # the rows of a tile first: a reduction across whole image rows (contiguous, fast),
    # then the columns on the s times smaller result
    low, high = low.view(B, h, s, w * s).amin(2), high.view(B, h, s, w * s).amax(2)
    return low.view(B, h, w, s).amin(-1), high.view(B, h, w, s).amax(-1)


def depth_range(depth: Tensor, frame: Tensor, x0: Tensor, x1: Tensor, y0: Tensor,
                 y1: Tensor, log_tile: int = 3) -> Tuple[Tensor, Tensor]:
    """Lower and upper bounds (P,) of the depth (B, H, W) over the pixel rectangles
    [x0, x1] x [y0, y1] (P,) of frames ``frame`` (P,): the min and max of the 2 x 2 tiles
    covering a rectangle, on the first level of a min / max pyramid (tiles of 2**log_tile
    pixels and up) whose tiles are at least as large as the rectangle."""
    low, high = _tiles(depth, depth, 2**log_tile)
    lows, highs = [low], [high]
    while max(lows[-1].shape[1:]) > 1:
        low, high = _tiles(lows[-1], highs[-1], 2)
        lows.append(low)
        highs.append(high)
    dev = depth.device
    dims = torch.tensor([t.shape[1:] for t in lows], device=dev)  # (L, 2)
    offsets = torch.tensor([0] + [t.numel() for t in lows[:-1]], device=dev).cumsum(0)
    sides = 2**(log_tile + torch.arange(len(lows), device=dev))
    size = torch.maximum(x1 - x0, y1 - y0) + 1
    level = (size[:, None] > sides).sum(1).clamp(max=len(lows) - 1)
    shift = level + log_tile  # pixel -> tile of the level
    h, w = dims[level].unbind(1)
    start = offsets[level] + frame * h * w
    lows = torch.cat([t.reshape(-1) for t in lows])
    highs = torch.cat([t.reshape(-1) for t in highs])
    lo = hi = None
    for y in (y0 >> shift, y1 >> shift):
        for x in (x0 >> shift, x1 >> shift):
            i = start + y * w + x
            lo = lows[i] if lo is None else torch.minimum(lo, lows[i])
            hi = highs[i] if hi is None else torch.maximum(hi, highs[i])
    return lo, hi
