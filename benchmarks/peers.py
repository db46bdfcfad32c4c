# Copyright (c) 3D Segmenter authors. All rights reserved.
"""What users would otherwise pick: MONAI's 3D U-Net (BasicUNet) and SwinUNETR, when installed.

Both take our 4-channel TSDF+RGB input and predict 30 classes; inputs are padded to a multiple
of 32 (SwinUNETR's total stride) and the logits cropped back, so any room size runs.
"""
import importlib.util
from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

PEERS = ('MONAI BasicUNet', 'MONAI SwinUNETR')


def available() -> bool:
    return importlib.util.find_spec('monai') is not None


class PadToMultiple(nn.Module):
    """Pad (B, C, X, Y, Z) up to a multiple of ``multiple``, run ``net``, crop the output."""

    def __init__(self, net: nn.Module, multiple: int = 32) -> None:
        super().__init__()
        self.net, self.multiple = net, multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[2:]
        pad = [(-s) % self.multiple for s in size]
        x = F.pad(x, [p for d in reversed(pad) for p in (0, d)])
        return self.net(x)[:, :, :size[0], :size[1], :size[2]]


def build_peer(name: str, in_channels: int = 4, num_classes: int = 30) -> nn.Module:
    """A MONAI network with its default widths, in eval mode."""
    from monai.networks.nets import BasicUNet, SwinUNETR
    nets: Dict[str, nn.Module] = {
        'MONAI BasicUNet': lambda: BasicUNet(spatial_dims=3, in_channels=in_channels,
                                             out_channels=num_classes),
        'MONAI SwinUNETR': lambda: SwinUNETR(in_channels=in_channels, out_channels=num_classes,
                                             spatial_dims=3),
    }
    if name not in nets:
        raise ValueError(f'unknown peer {name!r}; choose one of {list(nets)}')
    return PadToMultiple(nets[name]()).eval()
