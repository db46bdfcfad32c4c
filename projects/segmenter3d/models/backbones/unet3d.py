# Copyright (c) 3D Segmenter authors. All rights reserved.
"""3D U-Net baseline (Cicek et al., MICCAI 2016) as an mmseg backbone."""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS


class DoubleConv3d(BaseModule):
    """Two (Conv3d 3x3x3 -> norm -> ReLU) layers."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        conv = dict(type='Conv3d')
        self.convs = nn.Sequential(
            ConvModule(in_channels, out_channels, 3, padding=1, conv_cfg=conv, norm_cfg=norm_cfg),
            ConvModule(out_channels, out_channels, 3, padding=1, conv_cfg=conv, norm_cfg=norm_cfg))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x)


@MODELS.register_module()
class UNet3D(BaseModule):
    """Encoder-decoder with skip connections: ``num_levels`` resolutions, channels doubling
    per level (``base_channels * 2**i``), max pooling down, transposed convolution up,
    concatenated skips, two 3x3x3 convolutions per level.

    Args:
        in_channels (int): Defaults to 4 (tsdf, r, g, b).
        base_channels (int): Channels of the first level. Defaults to 32.
        num_levels (int): Resolutions, including the input one. Defaults to 4.
        norm_cfg (dict): ``BN3d`` (the paper's batch norm), ``IN3d`` or ``GN`` (with
            ``num_groups`` dividing ``base_channels``). Defaults to BN3d.
        init_cfg (dict, optional): Defaults to Kaiming for convolutions.

    Returns from ``forward``: a 1-tuple with the full-resolution decoder feature,
    (B, base_channels, D, H, W), cropped back from the padding to ``size_divisor``.
    """

    def __init__(self,
                 in_channels: int = 4,
                 base_channels: int = 32,
                 num_levels: int = 4,
                 norm_cfg: dict = dict(type='BN3d'),
                 init_cfg: Optional[dict] = dict(type='Kaiming', layer='Conv3d')) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_levels < 2:
            raise ValueError(f'UNet3D: num_levels must be at least 2, got {num_levels}')
        self.in_channels = in_channels
        self.num_levels = num_levels
        widths = [base_channels * 2**i for i in range(num_levels)]
        self.stage_channels = [base_channels]
        self.out_indices = (0, )
        self.encoders = nn.ModuleList()
        prev = in_channels
        for w in widths:
            self.encoders.append(DoubleConv3d(prev, w, norm_cfg))
            prev = w
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.ups.append(nn.ConvTranspose3d(w * 2, w, kernel_size=2, stride=2))
            self.decoders.append(DoubleConv3d(2 * w, w, norm_cfg))

    @property
    def size_divisor(self) -> Tuple[int, int, int]:
        return (2**(self.num_levels - 1), ) * 3

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f'UNet3D expects input of shape (B, {self.in_channels}, D, H, W), '
                             f'got {tuple(x.shape)}')
        size = x.shape[2:]
        pads = [(-s) % d for s, d in zip(size, self.size_divisor)]
        if any(pads):
            x = F.pad(x, (0, pads[2], 0, pads[1], 0, pads[0]))
        skips: List[torch.Tensor] = []
        for i, enc in enumerate(self.encoders):
            x = enc(x if i == 0 else F.max_pool3d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.ups, self.decoders):
            x = dec(torch.cat([skips.pop(), up(x)], dim=1))
        return (x[:, :, :size[0], :size[1], :size[2]].contiguous(), )
