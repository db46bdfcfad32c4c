# Copyright (c) 3D Segmenter authors. All rights reserved.
"""MONAI's SwinUNETR (Hatamizadeh et al. 2022), the maintained volumetric Swin U-Net and the
closest packaged relative of VT-UNet, as an mmseg backbone."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ...encoding import EMPTY_INPUT, pad_input

#: our norm names -> MONAI's ``norm_name`` (the convolutional encoder and decoder blocks; the
#: Swin stages keep their LayerNorm)
_MONAI_NORMS = {'BN3d': 'batch', 'IN3d': 'instance', 'GN': 'group'}


@MODELS.register_module(name='SwinUNETR')
class SwinUNETRBackbone(BaseModule):
    """SwinUNETR's encoder and decoder, returning the decoder's full-resolution feature
    (its 1x1x1 output convolution is the decode head's per-voxel linear layer instead).

    Input sides must be multiples of 32 (patch 2 and four 2x merges): the input is padded at
    the end of each axis with empty space (``pad_values``) and the output cropped back, so any
    room size runs. At a 32^3 input the bottleneck is 1x1x1: instance norm has one value per
    channel there and fails in training, and batch norm needs more than one sample; group norm
    (the default) trains at batch 1.

    Args:
        in_channels (int): Defaults to 4 (tsdf, r, g, b).
        feature_size (int): Channels of the first level, doubled per level; a multiple of 12
            (MONAI's constraint). Defaults to 12.
        depths (Sequence[int]): Swin blocks per stage. Defaults to (2, 2, 2, 2).
        num_heads (Sequence[int]): Heads per stage. Defaults to (3, 6, 12, 24).
        norm_cfg (dict): Norm of the convolutional blocks: ``GN`` (with ``num_groups``),
            ``IN3d`` or ``BN3d``. Defaults to ``dict(type='GN', num_groups=4)``.
        drop_path_rate (float): Stochastic depth of the Swin blocks. Defaults to 0.
        use_v2 (bool): SwinUNETR-v2 (a residual convolution before each Swin stage).
            Defaults to False.
        use_checkpoint (bool): Gradient checkpointing of the Swin blocks. Defaults to False.
        pad_values (Sequence[float]): One pad value per input channel. Defaults to empty space
            in the network's encoding, ``(-3, -1, -1, -1)``.
        init_cfg (dict, optional): Defaults to None (MONAI's own initialisation).

    Returns from ``forward``: a 1-tuple with (B, feature_size, D, H, W).
    """

    def __init__(self,
                 in_channels: int = 4,
                 feature_size: int = 12,
                 depths: Sequence[int] = (2, 2, 2, 2),
                 num_heads: Sequence[int] = (3, 6, 12, 24),
                 norm_cfg: dict = dict(type='GN', num_groups=4),
                 drop_path_rate: float = 0.,
                 use_v2: bool = False,
                 use_checkpoint: bool = False,
                 pad_values: Sequence[float] = EMPTY_INPUT,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        try:
            from monai.networks.nets import SwinUNETR
        except ImportError as err:
            raise ImportError(f'the SwinUNETR backbone needs MONAI: pip install "monai>=1.3" '
                              f'(or `make install`) ({err})') from err
        if feature_size <= 0 or feature_size % 12:
            raise ValueError(f'SwinUNETR: feature_size must be a positive multiple of 12, got '
                             f'{feature_size}')
        if len(pad_values) != in_channels:
            raise ValueError(f'SwinUNETR: pad_values has {len(pad_values)} entries for '
                             f'in_channels={in_channels}')
        groups = norm_cfg.get('num_groups', 1)
        if norm_cfg.get('type') == 'GN' and feature_size % groups:
            raise ValueError(f'SwinUNETR: norm_cfg.num_groups={groups} must divide feature_size='
                             f'{feature_size} (every level has feature_size * 2**i channels)')
        self.in_channels = in_channels
        self.feature_size = feature_size
        self.norm_cfg = dict(norm_cfg)
        self.pad_values = tuple(float(v) for v in pad_values)
        # out_channels is a placeholder: the output convolution is dropped below
        self.net = SwinUNETR(in_channels=in_channels, out_channels=feature_size,
                             feature_size=feature_size, depths=tuple(depths),
                             num_heads=tuple(num_heads), norm_name=_monai_norm(self.norm_cfg),
                             dropout_path_rate=drop_path_rate, use_v2=use_v2,
                             use_checkpoint=use_checkpoint, spatial_dims=3)
        self.net.out = nn.Identity()
        self.stage_channels = [feature_size]
        self.out_indices = (0, )

    @property
    def size_divisor(self) -> Tuple[int, int, int]:
        """Input sides are padded to multiples of this (patch 2, four merges)."""
        return (32, ) * 3

    def pad_to_divisor(self, x: torch.Tensor) -> torch.Tensor:
        """Pad (B, C, D, H, W) at the end of each axis to multiples of 32 with ``pad_values``
        (empty space: what lies outside a room)."""
        size = [-(-s // d) * d for s, d in zip(x.shape[2:], self.size_divisor)]
        if list(x.shape[2:]) == size:
            return x
        return torch.stack([pad_input(v, size, self.pad_values) for v in x])

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f'SwinUNETR expects input of shape (B, {self.in_channels}, D, H, W), '
                             f'got {tuple(x.shape)}')
        D, H, W = x.shape[2:]
        out = self.net(self.pad_to_divisor(x))
        return (out[:, :, :D, :H, :W].contiguous(), )


def _monai_norm(norm_cfg: dict) -> Union[str, tuple]:
    """MONAI's ``norm_name`` for one of our norm configs."""
    kind = norm_cfg.get('type')
    if kind not in _MONAI_NORMS:
        raise ValueError(f'SwinUNETR: norm_cfg.type must be one of {list(_MONAI_NORMS)}, got '
                         f'{kind!r}')
    extra = {k: v for k, v in norm_cfg.items() if k != 'type'}
    if kind == 'GN':
        if 'num_groups' not in extra:
            raise ValueError("SwinUNETR: norm_cfg type='GN' needs num_groups")
    elif 'num_groups' in extra:
        raise ValueError(f'SwinUNETR: norm_cfg.num_groups applies to GN only, not {kind}')
    return (_MONAI_NORMS[kind], extra) if extra else _MONAI_NORMS[kind]
