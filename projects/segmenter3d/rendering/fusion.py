# Copyright (c) 3D Segmenter authors. All rights reserved.
"""TSDF fusion of posed depth frames, with colour and label votes (pure torch, any device).

Each frame updates the voxels its camera sees, as KinectFusion (and Open3D's
``UniformTSDFVolume``) do: a voxel centre is projected into the depth image, the depth at
the nearest pixel gives the projective distance ``sdf = depth - z`` (positive in front of the
surface, i.e. in free space), and where ``sdf >= -truncation`` the clipped value enters a
running weighted mean (weight 1 per frame). Colours and labels are read at the same pixel and
enter only inside the truncation band (``|sdf| < truncation``): free space far from any surface
has no colour, and a voxel's label is the class most frames voted for there.

Memory stays bounded: the volume is cut into cubic blocks, each frame keeps only the blocks
that meet its view frustum (a sphere test), and the (frame, block) pairs of a batch of frames
are processed a fixed number of voxels at a time. Everything is a tensor on the volume's
device, so the same code runs on CUDA.

Conventions: world coordinates in metres (the poses' frame); poses are camera-to-world with
OpenCV camera axes (x right, y down, z forward); ``origin`` is the world position of the
centre of voxel (0, 0, 0); the stored TSDF is in voxel units, positive in free space,
truncated to +-truncation, and +truncation where nothing was observed.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor


def _as_batch(x: Tensor, dims: int) -> Tensor:
    return x[None] if x.dim() == dims - 1 else x


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
    K = _as_batch(intrinsics, 3).to(depth).expand(B, 3, 3)
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


class TSDFFusion:
    """A dense TSDF volume that integrates batches of posed RGB-D (+ label) frames.

    Args:
        shape (Sequence[int]): Voxels (X, Y, Z).
        voxel_size (float): Voxel edge in metres.
        origin (Sequence[float]): World position (metres) of the centre of voxel (0, 0, 0).
        truncation (float): Truncation in voxels. Defaults to 3.0.
        num_classes (int): Label classes voted on (label ids >= this are ignored, 255 means
            unknown); 0 fuses no labels. Defaults to 0.
        block (int): Edge in voxels of the blocks culled against each frustum. Defaults to 8.
        chunk (int): Voxel-frame pairs processed at once: bounds memory, and small enough
            for the temporaries to stay in cache. Defaults to 2**16.
        device: Where the volume lives. Defaults to 'cpu'.

    Example:
        >>> fusion = TSDFFusion((150, 150, 75), 0.04, (0.02, 0.02, 0.02), num_classes=20)
        >>> fusion.integrate(depth, intrinsics, poses, rgb=colour, labels=labels)
        >>> room = fusion.result()  # tsdf, rgb, labels, weight, voxel_size, origin
    """

    def __init__(self, shape: Sequence[int], voxel_size: float, origin: Sequence[float],
                 truncation: float = 3.0, num_classes: int = 0, block: int = 8,
                 chunk: int = 2**16, device='cpu') -> None:
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f'TSDFFusion: shape must be 3 positive sizes, got {tuple(shape)}')
        if not voxel_size > 0 or not truncation > 0:
            raise ValueError(f'TSDFFusion: voxel_size ({voxel_size}) and truncation '
                             f'({truncation}) must be positive')
        if not 0 <= num_classes <= 255:
            raise ValueError(f'TSDFFusion: num_classes must be in 0..255, got {num_classes}')
        self.shape = tuple(int(s) for s in shape)
        self.voxel_size, self.truncation = float(voxel_size), float(truncation)
        self.num_classes, self.block, self.chunk = int(num_classes), int(block), int(chunk)
        self.device = torch.device(device)
        self.origin = torch.as_tensor(origin, dtype=torch.float32, device=self.device).view(3)
        b = self.block
        counts = [-(-s // b) for s in self.shape]
        # storage padded to whole blocks: no voxel of a block falls outside it (no per-voxel
        # bounds test); result() crops the padding
        self.padded = tuple(c * b for c in counts)
        n = self.padded[0] * self.padded[1] * self.padded[2]
        self.tsdf_sum = torch.zeros(n, device=self.device)
        self.weight = torch.zeros(n, device=self.device)
        self.rgb_sum = torch.zeros(n, 3, device=self.device)
        self.rgb_weight = torch.zeros(n, device=self.device)
        # int16 votes: a voxel gets at most one per frame (32767 frames)
        self.votes = torch.zeros(n, self.num_classes, dtype=torch.int16, device=self.device) \
            if self.num_classes else None
        corners = torch.stack(torch.meshgrid(*[torch.arange(c, device=self.device) * b
                                               for c in counts], indexing='ij'), -1)
        self.block_corners = corners.reshape(-1, 3)  # (M, 3) voxel index of each block
        local = torch.stack(torch.meshgrid(*[torch.arange(b, device=self.device)] * 3,
                                           indexing='ij'), -1).reshape(-1, 3)  # (b^3, 3)
        self.local = local
        self.local_f = local.float()
        _, Y, Z = self.padded
        self.block_base = (self.block_corners[:, 0] * Y + self.block_corners[:, 1]) * Z + \
            self.block_corners[:, 2]
        self.local_flat = (local[:, 0] * Y + local[:, 1]) * Z + local[:, 2]
        centre = self.origin + self.voxel_size * (self.block_corners + (b - 1) / 2)
        self.block_centres = centre  # (M, 3) metres
        self.block_radius = self.voxel_size * (b - 1) / 2 * 3**0.5
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
        K = _as_batch(intrinsics, 3).to(self.device, torch.float32).expand(B, 3, 3)
        poses = _as_batch(poses, 3).to(self.device, torch.float32)
        if poses.shape != (B, 4, 4) or not torch.isfinite(poses).all():
            raise ValueError(f'TSDFFusion: poses must be {B} finite 4x4 matrices, got '
                             f'{tuple(poses.shape)}')
        rot_t = poses[:, :3, :3].transpose(1, 2)  # world -> camera rotation
        trans = -(rot_t @ poses[:, :3, 3:])[..., 0]  # (B, 3)
        pairs = self._visible_blocks(depth, K, rot_t, trans)
        if rgb is not None:
            rgb = _as_batch(rgb, 4).to(self.device).reshape(B * H * W, 3)
        if labels is not None and self.votes is not None:
            labels = _as_batch(labels, 3).to(self.device).reshape(-1).long()
        else:
            labels = None
        flat_depth = depth.reshape(-1)
        per = max(1, self.chunk // len(self.local))
        for start in range(0, len(pairs), per):
            frame, blk = pairs[start:start + per].unbind(1)
            self._update(frame, blk, flat_depth, (H, W), K, rot_t, trans, rgb, labels)
        self.frames += B

    def _visible_blocks(self, depth, K, rot_t, trans) -> Tensor:
        """(P, 2) (frame, block) pairs whose block sphere meets the frame's frustum, cut at
        the frame's farthest depth plus the truncation."""
        B, H, W = depth.shape
        centres = torch.einsum('bij,mj->bmi', rot_t, self.block_centres) + trans[:, None]
        r = self.block_radius
        planes = frustum_planes(K, H, W)  # (B, 4, 3)
        inside = (torch.einsum('bmi,bpi->bmp', centres, planes) > -r).all(-1)
        far = depth.reshape(B, -1).amax(1) + self.truncation * self.voxel_size
        z = centres[..., 2]
        inside &= (z > -r) & (z < far[:, None] + r)
        return inside.nonzero()

    def _update(self, frame, blk, flat_depth, size, K, rot_t, trans, rgb, labels):
        """Update the voxels of (frame, block) pairs: (P,) each."""
        H, W = size
        # camera coordinates = (camera of voxel 0) + (camera step per voxel index) @ index:
        # one 3x3 per pair, and the same arithmetic whatever the blocks
        rot = rot_t[frame]  # (P, 3, 3)
        c0 = (rot @ self.origin[:, None])[..., 0] + trans[frame]
        vox = self.block_corners[blk].float()[:, None] + self.local_f[None]  # (P, b^3, 3)
        cam = torch.bmm(vox, (rot * self.voxel_size).transpose(1, 2)) + c0[:, None]
        z = cam[..., 2]
        zs = z.clamp(min=1e-6)
        k = K[frame]
        u = torch.round(k[:, 0, 0, None] * cam[..., 0] / zs + k[:, 0, 2, None])
        v = torch.round(k[:, 1, 1, None] * cam[..., 1] / zs + k[:, 1, 2, None])
        ok = (z > 0) & (u >= 0) & (u < W) & (v >= 0) & (v < H)
        # from here on only the voxels that project into their frame (index_select: the
        # fastest gather); pixel ids are garbage elsewhere and never read
        sel = ok.view(-1).nonzero()[:, 0]
        pix = ((frame.int() * (H * W))[:, None] + v.int() * W + u.int()).view(-1)
        pix = pix.index_select(0, sel).long()
        d = flat_depth.index_select(0, pix)
        sdf = (d - z.reshape(-1).index_select(0, sel)) / self.voxel_size  # positive in free space
        keep = ((d > 0) & (sdf >= -self.truncation)).nonzero()[:, 0]
        sel, pix, sdf = sel.index_select(0, keep), pix.index_select(0, keep), \
            sdf.index_select(0, keep)
        idx = (self.block_base[blk][:, None] + self.local_flat[None]).view(-1).index_select(0,
                                                                                          sel)
        self.tsdf_sum.index_add_(0, idx, sdf.clamp(max=self.truncation))
        self.weight.index_add_(0, idx, torch.ones_like(sdf))
        if rgb is None and labels is None:
            return
        band = (sdf < self.truncation).nonzero()[:, 0]
        bi, bpix = idx.index_select(0, band), pix.index_select(0, band)
        if rgb is not None:
            self.rgb_sum.index_add_(0, bi, rgb.index_select(0, bpix).float())
            self.rgb_weight.index_add_(0, bi, torch.ones_like(bi, dtype=torch.float32))
        if labels is not None:
            lab = labels.index_select(0, bpix)
            vote = (lab >= 0) & (lab < self.num_classes)
            flat = bi[vote] * self.num_classes + lab[vote]
            self.votes.view(-1).index_put_((flat, ), torch.ones_like(flat, dtype=torch.int16),
                                           accumulate=True)

    @torch.no_grad()
    def result(self) -> Dict[str, Tensor]:
        """The fused room: ``tsdf`` (X, Y, Z) voxel units (+truncation where unobserved),
        ``rgb`` (3, X, Y, Z) uint8 (0 where no colour), ``labels`` (X, Y, Z) uint8 (255 where
        no vote), ``weight`` (X, Y, Z) float32 (observations per voxel), ``voxel_size`` and
        ``origin`` (3,)."""
        shape = self.shape
        X, Y, Z = shape

        def crop(flat: Tensor) -> Tensor:  # padded storage (N, ...) -> (X, Y, Z, ...)
            return flat.view(*self.padded, *flat.shape[1:])[:X, :Y, :Z]

        weight, tsdf_sum = crop(self.weight), crop(self.tsdf_sum)
        seen = weight > 0
        tsdf = torch.full_like(weight, self.truncation)
        tsdf[seen] = (tsdf_sum[seen] / weight[seen]).clamp(-self.truncation, self.truncation)
        rgb_weight, rgb_sum = crop(self.rgb_weight), crop(self.rgb_sum)
        coloured = rgb_weight > 0
        rgb = torch.zeros_like(rgb_sum)
        rgb[coloured] = rgb_sum[coloured] / rgb_weight[coloured][:, None]
        rgb = rgb.round().clamp(0, 255).to(torch.uint8).permute(3, 0, 1, 2).contiguous()
        if self.votes is not None:
            best, labels = crop(self.votes).max(-1)
            labels = torch.where(best > 0, labels, torch.full_like(labels, 255)).to(torch.uint8)
        else:
            labels = torch.full(shape, 255, dtype=torch.uint8, device=self.device)
        return dict(tsdf=tsdf, rgb=rgb, labels=labels.contiguous(), weight=weight.clone(),
                    voxel_size=torch.tensor(self.voxel_size), origin=self.origin.clone())
