# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The 3D Segmenter decoder: two linear layers joined by a skip to the raw input."""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import accuracy
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class LinearSkipHead(BaseDecodeHead):
    """Token-wise Linear(C -> K), trilinear upsampling, then Linear(K + C_in -> K) on
    ``[upsampled logits, raw input]`` per voxel.

    Args:
        in_channels (int): Channels of the backbone feature used (``2 * embed_dims`` for the
            two-stage 3D Segmenter).
        num_classes (int): Classes K.
        volume_channels (int): Channels of the raw input volume joined by the skip.
            Defaults to 4 (tsdf, r, g, b).
        skip (bool): The skip connection and second linear; ``False`` stops at the upsampled
            token logits (the paper's ablation). Defaults to True.
        **kwargs: :class:`mmseg.models.decode_heads.BaseDecodeHead` arguments (``loss_decode``,
            ``ignore_index``, ``in_index``, ...). ``channels`` defaults to ``in_channels`` and
            ``dropout_ratio`` (dropout on tokens before the first linear) to 0.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 volume_channels: int = 4,
                 skip: bool = True,
                 dropout_ratio: float = 0.,
                 init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
                 **kwargs) -> None:
        kwargs.setdefault('channels', in_channels)
        super().__init__(in_channels, num_classes=num_classes, dropout_ratio=dropout_ratio,
                         init_cfg=init_cfg, **kwargs)
        if self.channels != in_channels:
            raise ValueError(f'LinearSkipHead: channels ({self.channels}) must equal in_channels '
                             f'({in_channels}); the head has no hidden layer')
        del self.conv_seg  # replaced by the two linear layers below
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio > 0 else None
        self.volume_channels = volume_channels
        self.skip = skip
        self.token_cls = nn.Linear(in_channels, self.out_channels)
        self.skip_cls = nn.Linear(self.out_channels + volume_channels,
                                  self.out_channels) if skip else None

    def forward(self, inputs: Sequence[Tensor], volume: Tensor) -> Tensor:
        """Per-voxel logits.

        Args:
            inputs (Sequence[Tensor]): Backbone outputs; ``in_index`` selects one of shape
                (B, in_channels, d, h, w).
            volume (Tensor): The (padded) input volume, (B, volume_channels, D, H, W).

        Returns:
            Tensor: Logits of shape (B, K, D, H, W).
        """
        x = self._transform_inputs(inputs)
        if volume.shape[1] != self.volume_channels:
            raise ValueError(f'LinearSkipHead: volume has {volume.shape[1]} channels, '
                             f'volume_channels is {self.volume_channels}')
        x = x.permute(0, 2, 3, 4, 1)
        if self.dropout is not None:
            x = self.dropout(x)
        logits = self.token_cls(x).permute(0, 4, 1, 2, 3)
        logits = F.interpolate(logits, size=volume.shape[2:], mode='trilinear',
                               align_corners=False)
        if not self.skip:
            return logits
        joined = torch.cat([logits, volume.to(logits.dtype)], dim=1).permute(0, 2, 3, 4, 1)
        return self.skip_cls(joined).permute(0, 4, 1, 2, 3).contiguous()

    def loss_by_feat(self, seg_logits: Tensor, batch_data_samples: List) -> dict:
        """Losses of (B, K, D, H, W) logits already at the label size."""
        seg_label = torch.stack([s.gt_sem_seg.data for s in batch_data_samples]).squeeze(1)
        if seg_logits.shape[2:] != seg_label.shape[1:]:
            raise ValueError(f'LinearSkipHead: logits {tuple(seg_logits.shape[2:])} and labels '
                             f'{tuple(seg_label.shape[1:])} differ in size')
        seg_label = seg_label.long()
        seg_weight = None
        if self.sampler is not None:
            seg_weight = self.sampler.sample(seg_logits, seg_label.unsqueeze(1))
        losses = dict()
        loss_modules = (self.loss_decode if isinstance(self.loss_decode, nn.ModuleList) else
                        [self.loss_decode])
        for loss_module in loss_modules:
            value = loss_module(seg_logits, seg_label, weight=seg_weight,
                                ignore_index=self.ignore_index)
            losses[loss_module.loss_name] = losses.get(loss_module.loss_name, 0) + value
        losses['acc_seg'] = accuracy(seg_logits, seg_label, ignore_index=self.ignore_index)
        return losses
