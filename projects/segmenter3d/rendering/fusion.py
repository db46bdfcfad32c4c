# Copyright (c) 3D Segmenter authors. All rights reserved.
"""TSDF fusion of posed depth frames, with colour and label votes (pure torch, any device).

Each frame updates the voxels its camera sees, as KinectFusion (and Open3D's
``UniformTSDFVolume``) do: a voxel centre is projected into the depth image, the depth at
the nearest pixel gives the projective distance ``sdf = depth - z`` (positive in front of the
surface, i.e. in free space), and where ``sdf >= -truncation`` the clipped value enters a
running weighted mean (weight 1 per frame). Colours and labels are read at the same pixel and
enter only inside the truncation band (``|sdf| < truncation``): free space far from any surface
has no colour, and a voxel's label is the class most frames voted for there.

Work per frame follows what the frame can change: the volume is cut into cubic blocks,
groups of blocks outside the view frustum are culled by a sphere test, and each remaining
block is classified from the projection of its 8 corners and the range of depth under them
(a min / max pyramid of the depth image): blocks behind the observed surface or out of view
are skipped, blocks wholly in free space in front of it (every voxel +truncation, weight 1,
no colour or label) are only counted, and only the blocks that meet the truncation band or
the image border are updated voxel by voxel, a bounded number of voxels at a time.
Everything is a tensor on the volume's device, so the same code runs on CUDA. The two culling
tests (frustum planes, depth range over pixels) are in :mod:`.visibility`; sizing a grid for
a set of frames is :mod:`.fusion_bounds`.

Conventions: world coordinates in metres (the poses' frame); poses are camera-to-world with
OpenCV camera axes (x right, y down, z forward); ``origin`` is the world position of the
centre of voxel (0, 0, 0); the stored TSDF is in voxel units, positive in free space,
truncated to +-truncation, and +truncation where nothing was observed.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .fusion_bounds import depth_bounds, grid_from_bounds
from .visibility import depth_range, frustum_planes

# the grid helpers import from here too, beside the volume they size
__all__ = ['TSDFFusion', 'depth_bounds', 'grid_from_bounds']


def _as_batch(x: Tensor, dims: int) -> Tensor:
    return x[None] if x.dim() == dims - 1 else x


class TSDFFusion:
    """A dense TSDF volume that integrates batches of posed RGB-D (+ label) frames.

    Args:
        shape (Sequence[int]): Voxels (X, Y, Z).
        voxel_size (float): Voxel edge in metres.
        origin (Sequence[float]): World position (metres) of the centre of voxel (0, 0, 0).
        truncation (float): Truncation in voxels. Defaults to 3.0.
        num_classes (int): Label classes voted on (label ids >= this are ignored, 255 means
            unknown); 0 fuses no labels. Defaults to 0.
        block (int): Edge in voxels of the blocks classified per frame. Defaults to 4.
        chunk (int): Voxels updated at once: bounds memory (about 40 bytes a voxel of
            temporaries). Defaults to 2**17.
        device: Where the volume lives. Defaults to 'cpu'.

    Example:
        >>> fusion = TSDFFusion((150, 150, 75), 0.04, (0.02, 0.02, 0.02), num_classes=20)
        >>> fusion.integrate(depth, intrinsics, poses, rgb=colour, labels=labels)
        >>> room = fusion.result()  # tsdf, rgb, labels, weight, voxel_size, origin
    """

    GROUP = 4  # blocks a side of the groups culled against the frusta first

    def __init__(self, shape: Sequence[int], voxel_size: float, origin: Sequence[float],
                 truncation: float = 3.0, num_classes: int = 0, block: int = 4,
                 chunk: int = 2**17, device='cpu') -> None:
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f'TSDFFusion: shape must be 3 positive sizes, got {tuple(shape)}')
        if not voxel_size > 0 or not truncation > 0:
            raise ValueError(f'TSDFFusion: voxel_size ({voxel_size}) and truncation '
                             f'({truncation}) must be positive')
        if not 0 <= num_classes <= 255:
            raise ValueError(f'TSDFFusion: num_classes must be in 0..255, got {num_classes}')
        if block < 1:
            raise ValueError(f'TSDFFusion: block must be positive, got {block}')
        self.shape = tuple(int(s) for s in shape)
        self.voxel_size, self.truncation = float(voxel_size), float(truncation)
        self.num_classes, self.block, self.chunk = int(num_classes), int(block), int(chunk)
        self.device = dev = torch.device(device)
        self.origin = torch.as_tensor(origin, dtype=torch.float32, device=dev).view(3)
        b, g = self.block, self.GROUP
        self.counts = tuple(-(-s // b) for s in self.shape)
        # block-major storage (block, voxel in block), padded to whole blocks: no voxel of a
        # block falls outside it (no per-voxel bounds test); result() reorders and crops
        self.padded = tuple(c * b for c in self.counts)
        n = self.padded[0] * self.padded[1] * self.padded[2]
        self.tsdf_sum = torch.zeros(n, device=dev)
        self.weight = torch.zeros(n, device=dev)
        self.rgb_sum = torch.zeros(n, 3, device=dev)
        self.rgb_weight = torch.zeros(n, device=dev)
        # int16 votes: a voxel gets at most one per frame (32767 frames)
        self.votes = torch.zeros(n, self.num_classes, dtype=torch.int16, device=dev) \
            if self.num_classes else None
        grid = torch.stack(torch.meshgrid(*[torch.arange(c, device=dev) for c in self.counts],
                                          indexing='ij'), -1)  # (cx, cy, cz, 3) block ids
        self.block_index = grid.reshape(-1, 3) * b  # (M, 3) index of each block's voxel 0
        self.block_first = self.block_index.float()
        # frames that saw the whole of a block as free space in front of the surface (each
        # voxel: +truncation, weight 1): counted per block, spread to voxels in result()
        self.free = torch.zeros(len(self.block_index), device=dev)
        self.steps = torch.arange(b, device=dev)
        # storage offset of voxel (i, j, k) of a block, in _update's (i, j, k, block) order
        self.offsets = torch.arange(b**3, device=dev,
                                    dtype=torch.int32 if n < 2**31 else torch.long)
        self.box = torch.stack(torch.meshgrid(*[torch.tensor([0.0, b - 1.0], device=dev)] * 3,
                                              indexing='ij'), -1).reshape(8, 3)
        # groups of g^3 blocks (-1 pads the edges): a frame culls groups by their bounding
        # sphere, then classifies the blocks of the groups it kept
        groups = [-(-c // g) for c in self.counts]
        ids = torch.full([n_ * g for n_ in groups], -1, dtype=torch.long, device=dev)
        ids[:self.counts[0], :self.counts[1], :self.counts[2]] = torch.arange(
            len(self.block_index), device=dev).view(self.counts)
        self.group_blocks = ids.view(groups[0], g, groups[1], g, groups[2], g).permute(
            0, 2, 4, 1, 3, 5).reshape(-1, g**3)  # (G, g^3)
        first = torch.stack(torch.meshgrid(*[torch.arange(n_, device=dev) * g * b
                                             for n_ in groups], indexing='ij'), -1)
        edge = g * b - 1
        self.group_centres = self.origin + voxel_size * (first.reshape(-1, 3) + edge / 2)
        self.group_radius = self.voxel_size * edge / 2 * 3**0.5
        self.ones = torch.ones(0, device=dev)
        self.frames = 0

    @torch.no_grad()
    def integrate(self, depth: Tensor, intrinsics: Tensor, poses: Tensor,
                  rgb: Optional[Tensor] = None, labels: Optional[Tensor] = None) -> None:
        """Fuse a batch of frames of one size.

        Args:
            depth (Tensor): (B, H, W) or (H, W) z-depth in metres, 0 where invalid.
            intrinsics (Tensor): (B, 3, 3) or (3, 3) pinhole matrices of the depth frames.
            poses (Tensor): (B, 4, 4) or (4, 4) camera-to-world, OpenCV axes; finite.
            rgb (Tensor, optional): (B, H, W, 3) uint8 colour registered to the depth.
            labels (Tensor, optional): (B, H, W) integer class ids (255 = unknown).
        """
        depth = _as_batch(depth, 3).to(self.device, torch.float32)
        B, H, W = depth.shape
        if (H + 2) * (W + 2) >= 2**24:
            raise ValueError(f'TSDFFusion: depth frames of {H}x{W} pixels are too large '
                             '(pixel ids are computed in float32)')
        K = _as_batch(intrinsics, 3).to(self.device, torch.float32).expand(B, 3, 3)
        poses = _as_batch(poses, 3).to(self.device, torch.float32)
        if poses.shape != (B, 4, 4) or not torch.isfinite(poses).all():
            raise ValueError(f'TSDFFusion: poses must be {B} finite 4x4 matrices, got '
                             f'{tuple(poses.shape)}')
        rot_t = poses[:, :3, :3].transpose(1, 2)  # world -> camera rotation
        trans = -(rot_t @ poses[:, :3, 3:])[..., 0]  # (B, 3)
        frame, blk = self._visible_blocks(depth, K, rot_t, trans)
        # camera coordinates of voxel index q: base + step @ q, one affine map per frame
        step = rot_t * self.voxel_size  # (B, 3, 3)
        base = rot_t @ self.origin + trans  # (B, 3)
        frame, blk, ahead = self._classify(frame, blk, K, base, step, depth)
        # depth padded by one pixel of invalid depth, -inf: a voxel projecting outside or
        # onto no depth fails the truncation test (colours and labels are read unpadded)
        depth = torch.nn.functional.pad(torch.where(depth > 0, depth, -float('inf')),
                                        (1, 1, 1, 1), value=-float('inf')).reshape(B, -1)
        if rgb is not None:
            rgb = _as_batch(rgb, 4).to(self.device).reshape(B, -1, 3)
        if labels is not None and self.votes is not None:
            labels = _as_batch(labels, 3).to(self.device).reshape(B, -1)
        else:
            labels = None
        # per frame and axis, the camera-coordinate terms of voxel indices 0, 1, ...: a
        # voxel's coordinates are base + its three indices' terms, summed in one order
        # whatever the block size or chunk (one pixel per voxel at any batching)
        index = torch.arange(max(self.padded), device=self.device, dtype=torch.float32)
        terms = step.transpose(1, 2)[..., None] * index  # (B, axis, xyz, D)
        ends = torch.bincount(frame, minlength=B).cumsum(0).tolist()
        per = max(1, self.chunk // self.block**3)
        for f in range(B):
            for start in range(ends[f - 1] if f else 0, ends[f], per):
                end = min(start + per, ends[f])
                self._update(blk[start:end], bool(ahead[start:end].all()), base[f], terms[f],
                             K[f], (H, W), depth[f], None if rgb is None else rgb[f],
                             None if labels is None else labels[f])
        self.frames += B

    def _visible_blocks(self, depth, K, rot_t, trans) -> Tuple[Tensor, Tensor]:
        """(frame, block) pairs (P,) each, sorted by frame: the blocks of the groups whose
        bounding sphere meets the frame's frustum, cut at its farthest depth + truncation."""
        B, H, W = depth.shape
        centres = torch.einsum('bij,mj->bmi', rot_t, self.group_centres) + trans[:, None]
        r = self.group_radius
        planes = frustum_planes(K, H, W)  # (B, 4, 3)
        inside = (torch.einsum('bmi,bpi->bmp', centres, planes) > -r).all(-1)
        far = depth.reshape(B, -1).amax(1) + self.truncation * self.voxel_size
        z = centres[..., 2]
        inside &= (z > -r) & (z < far[:, None] + r)
        frame, group = inside.nonzero().unbind(1)
        blk = self.group_blocks[group]  # (P, g^3)
        frame = frame[:, None].expand_as(blk)
        real = blk >= 0
        return frame[real], blk[real]

    def _classify(self, frame, blk, K, base, step, depth) -> Tuple[Tensor, Tensor, Tensor]:
        """Sort (frame, block) pairs by what the frame does to the whole block, from the
        projection of its 8 corner voxels and the depth range under it: behind the surface
        or out of view (dropped), free space in front of the surface (counted in
        ``self.free``), or mixed (returned, still sorted by frame, with whether each block is
        all in front of the camera)."""
        B, H, W = depth.shape
        # (u z, v z, z) is affine in the voxel index: the block's voxel 0 plus the 8 corner
        # offsets of the frame
        proj = K @ step  # (B, 3, 3)
        corner = (proj[frame] * self.block_first.index_select(0, blk)[:, None]).sum(-1) + \
            (K @ base[..., None])[frame, :, 0]  # (P, 3)
        offset = (proj @ self.box.T).transpose(1, 2)  # (B, 8, 3)
        abz = corner[:, None] + offset[frame]  # (P, 8, 3)
        z = abz[..., 2]
        zmin = corner[:, 2] + offset[..., 2].amin(1)[frame]
        zmax = corner[:, 2] + offset[..., 2].amax(1)[frame]
        ahead = zmin > 1e-3  # the whole block in front of the camera: corners bound it
        z = torch.where(ahead[:, None], z, 1.0)
        u, v = abz[..., 0] / z, abz[..., 1] / z
        umin, umax, vmin, vmax = u.amin(1), u.amax(1), v.amin(1), v.amax(1)
        eps = 0.01  # pixels: float rounding between this and the per-voxel projection
        out = (umax < -0.5 - eps) | (umin > W - 0.5 + eps) | (vmax < -0.5 - eps) | \
            (vmin > H - 0.5 + eps)
        inside = (umin > -0.5 + eps) & (umax < W - 0.5 - eps) & (vmin > -0.5 + eps) & \
            (vmax < H - 0.5 - eps)
        # the pixels the block can read (one more each side for rounding), and the depth
        # range over them
        big = 1e6
        x0 = (umin.clamp(-big, big) - 0.5).floor().clamp(0, W - 1).long()
        x1 = (umax.clamp(-big, big) + 1.5).floor().clamp(0, W - 1).long()
        y0 = (vmin.clamp(-big, big) - 0.5).floor().clamp(0, H - 1).long()
        y1 = (vmax.clamp(-big, big) + 1.5).floor().clamp(0, H - 1).long()
        dmin, dmax = depth_range(depth, frame, x0, x1, y0, y1)
        tol = 1e-4 * self.voxel_size + 1e-6 * zmax.abs()
        band = self.truncation * self.voxel_size
        drop = (zmax <= 0) | (ahead & (out | (dmax <= 0) | (zmin - dmax > band + tol)))
        free = ahead & inside & (dmin > 0) & (dmin - zmax > band + tol)
        self.free.index_add_(0, blk[free], torch.ones_like(zmin[free]))
        mixed = ~(drop | free)
        return frame[mixed], blk[mixed], ahead[mixed]

    def _ones(self, n: int) -> Tensor:
        """n ones (float32), a view of a kept buffer: no fill per update."""
        if len(self.ones) < n:
            self.ones = torch.ones(n, device=self.device)
        return self.ones[:n]

    def _update(self, blk, ahead, base, terms, K, size, depth, rgb, labels):
        """Update every voxel of blocks (n,) seen by one frame: a voxel's camera coordinates
        are ``base`` (3,) plus its three indices' ``terms`` (axis, xyz, D); ``ahead``: all
        the blocks are in front of the camera; ``depth`` (-inf where invalid), ``rgb`` and
        ``labels`` are the frame's padded images, flat."""
        H, W = size
        b, n = self.block, len(blk)
        ijk = self.block_index.index_select(0, blk).T[:, None] + self.steps[:, None]
        # (xyz, b, n) per axis, blocks innermost: the broadcast adds below run along n
        tx, ty, tz = (terms[axis].index_select(1, ijk[axis].reshape(-1)).view(3, b, n)
                      for axis in range(3))
        cam = ((base[:, None, None] + tx)[:, :, None] + ty[:, None])[:, :, :, None] + \
            tz[:, None, None]  # (xyz, b, b, b, n): voxel (i, j, k) of block m at [:, i, j, k, m]
        x, y, z = cam.view(3, -1).unbind(0)
        zs = z if ahead else z.clamp(min=1e-6)
        u = x.mul(K[0, 0]).div_(zs).add_(K[0, 2]).round_().clamp_(-1, W)
        v = y.mul(K[1, 1]).div_(zs).add_(K[1, 2]).round_().clamp_(-1, H)
        # (v + 1) (W + 2) + u + 1, exact in float32 below 2**24 pixels
        pix = v.mul_(W + 2).add_(u).add_(W + 3).int()
        d = depth.index_select(0, pix)
        sdf = d - z  # metres, positive in free space; -inf where no depth
        keep = sdf >= -self.truncation * self.voxel_size
        if not ahead:
            keep &= z > 0
        sel = keep.nonzero()[:, 0]
        idx = (blk.to(self.offsets.dtype) * b**3 + self.offsets[:, None]).view(-1)
        idx = idx.index_select(0, sel)
        sdf = sdf.index_select(0, sel).div_(self.voxel_size)
        self.tsdf_sum.index_add_(0, idx, sdf.clamp(max=self.truncation))
        self.weight.index_add_(0, idx, self._ones(len(idx)))
        if rgb is None and labels is None:
            return
        band = (sdf < self.truncation).nonzero()[:, 0]
        bi, bpix = idx.index_select(0, band), pix.index_select(0, sel.index_select(0, band))
        row = torch.div(bpix, W + 2, rounding_mode='floor')
        bpix = bpix - row * 2 - (W + 1)  # padded -> unpadded pixel: (row - 1) W + column - 1
        if rgb is not None:
            self.rgb_sum.index_add_(0, bi, rgb.index_select(0, bpix).float())
            self.rgb_weight.index_add_(0, bi, self._ones(len(bi)))
        if labels is not None:
            lab = labels.index_select(0, bpix).long()
            vote = ((lab >= 0) & (lab < self.num_classes)).nonzero()[:, 0]
            flat = bi.index_select(0, vote).long() * self.num_classes + \
                lab.index_select(0, vote)
            self.votes.view(-1).index_add_(0, flat, torch.ones_like(flat, dtype=torch.int16))

    @torch.no_grad()
    def result(self) -> Dict[str, Tensor]:
        """The fused room: ``tsdf`` (X, Y, Z) voxel units (+truncation where unobserved),
        ``rgb`` (3, X, Y, Z) uint8 (0 where no colour), ``labels`` (X, Y, Z) uint8 (255 where
        no vote), ``weight`` (X, Y, Z) float32 (observations per voxel), ``voxel_size`` and
        ``origin`` (3,)."""
        shape = self.shape
        X, Y, Z = shape
        (cx, cy, cz), b = self.counts, self.block

        def crop(flat: Tensor) -> Tensor:  # block-major (N, ...) -> (X, Y, Z, ...)
            rest = flat.shape[1:]
            grid = flat.view(cx, cy, cz, b, b, b, *rest).permute(
                0, 3, 1, 4, 2, 5, *range(6, 6 + len(rest)))
            return grid.reshape(*self.padded, *rest)[:X, :Y, :Z].contiguous()

        # per voxel in storage order first, then one reorder per output
        free = self.free[:, None]
        weight = (self.weight.view(-1, b**3) + free).view(-1)
        tsdf_sum = (self.tsdf_sum.view(-1, b**3) + self.truncation * free).view(-1)
        tsdf = torch.where(weight > 0, tsdf_sum / weight.clamp(min=1), self.truncation)
        tsdf = tsdf.clamp_(-self.truncation, self.truncation)
        coloured = (self.rgb_weight > 0).nonzero()[:, 0]  # few: the truncation band
        mean = self.rgb_sum[coloured] / self.rgb_weight[coloured, None]
        rgb = torch.zeros_like(self.rgb_sum, dtype=torch.uint8)  # 0 where no colour
        rgb[coloured] = mean.round_().clamp_(0, 255).to(torch.uint8)
        rgb = crop(rgb).permute(3, 0, 1, 2)
        if self.votes is not None:
            best, labels = self.votes.max(-1)
            labels = crop(torch.where(best > 0, labels, 255).to(torch.uint8))
        else:
            labels = torch.full(shape, 255, dtype=torch.uint8, device=self.device)
        tsdf, weight = crop(tsdf), crop(weight)
        return dict(tsdf=tsdf, rgb=rgb.contiguous(), labels=labels, weight=weight,
                    voxel_size=torch.tensor(self.voxel_size), origin=self.origin.clone())
