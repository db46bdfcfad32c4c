# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The 3D Segmenter decoder: two linear layers joined by a skip to the raw input."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import accuracy
from mmseg.registry import MODELS
from torch import Tensor

from ...encoding import input_observed
from ..utils import trilinear_upsample, trilinear_upsample_add_projection

#: logit gap between the fixed free-space class and every other class (``free_space_class``):
#: the softmax puts 1 - 29 e^-30 on it, so a correctly labelled free voxel adds ~1e-12 to the
#: cross entropy, and a free voxel labelled otherwise shows as a bounded loss of about 30
FREE_SPACE_MARGIN = 30.0


@MODELS.register_module()
class LinearSkipHead(BaseDecodeHead):
    """Token-wise Linear(C -> K), trilinear upsampling, then Linear(K + C_in -> K) on
    ``[upsampled logits, raw input]`` per voxel.

    Keeps :class:`BaseDecodeHead`'s contract, ``forward(inputs)``: the raw (padded) input
    volume travels as the last entry of ``inputs``, after the backbone's feature maps, so the
    inherited ``loss`` and ``predict`` work unchanged.

    Computed in an equivalent folded form (:meth:`folded_token_classifier`): the first layer
    and the token part of the second are merged at token resolution, upsampled by three 1-D
    interpolation GEMMs, and the raw-input part is added by one batched GEMM; no
    (K + C_in)-channel full-resolution tensor and no channels-last copy of the output.

    Args:
        in_channels (int): Channels of the backbone feature used (``2 * embed_dims`` for the
            two-stage 3D Segmenter).
        num_classes (int): Classes K.
        volume_channels (int): Channels of the raw input volume joined by the skip.
            Defaults to 4 (tsdf, r, g, b).
        skip (bool): The skip connection and second linear; ``False`` stops at the upsampled
            token logits (the paper's ablation). Defaults to True.
        free_space_class (int, optional): When set, voxels of free space (the raw input's
            tsdf channel at the free-space truncation, -3) get fixed logits, 0 for this class
            and ``-FREE_SPACE_MARGIN`` for the others, whatever the features say: free space
            is that class by construction, and no parameter is trained on it. For backbones
            that see only the non-free voxels (``SparseUNet3D``). Defaults to None.
        **kwargs: :class:`mmseg.models.decode_heads.BaseDecodeHead` arguments (``loss_decode``,
            ``ignore_index``, ``in_index``, ...). ``channels`` defaults to ``in_channels`` and
            ``dropout_ratio`` (dropout on tokens before the first linear) to 0.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 volume_channels: int = 4,
                 skip: bool = True,
                 free_space_class: Optional[int] = None,
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
        if free_space_class is not None and not 0 <= free_space_class < self.out_channels:
            raise ValueError(f'LinearSkipHead: free_space_class={free_space_class} is not a '
                             f'class (0..{self.out_channels - 1})')
        self.free_space_class = free_space_class
        self.token_cls = nn.Linear(in_channels, self.out_channels)
        self.skip_cls = nn.Linear(self.out_channels + volume_channels,
                                  self.out_channels) if skip else None

    def init_weights(self) -> None:
        """TruncNormal (std 0.02) for both layers, then the token part of the second layer
        set to the identity: at initialisation the head with the skip equals the head without
        it (plus a small term of the raw input), and the first layer is trained at full
        strength. With both layers small the product ``W2_tok W1`` starts near zero and its
        gradients are scaled down by the other factor, which made the skip head train far
        slower (see benchmarks/RESULTS.md). Checkpoints overwrite all of it."""
        super().init_weights()
        if self.skip_cls is not None:
            with torch.no_grad():
                self.skip_cls.weight[:, :self.out_channels].copy_(
                    torch.eye(self.out_channels, dtype=self.skip_cls.weight.dtype))

    def folded_token_classifier(self) -> Tuple[Tensor, Tensor]:
        """(K, C) weight and (K,) bias taking tokens straight to the upsampled part of the
        output logits.

        Both linear layers and the trilinear upsampling are linear, and the upsampling keeps
        constants (its weights sum to 1), so with ``W2 = [W2_tok, W2_vol]``::

            W2 [up(W1 t + b1), x] + b2 = up((W2_tok W1) t + W2_tok b1 + b2) + W2_vol x

        The right-hand side never builds the (K + C_in)-channel full-resolution tensor; the
        parameters (and checkpoints) stay those of the two layers, and gradients reach both.
        """
        if not self.skip:
            return self.token_cls.weight, self.token_cls.bias
        w_tok = self.skip_cls.weight[:, :self.out_channels]
        return (w_tok @ self.token_cls.weight,
                w_tok @ self.token_cls.bias + self.skip_cls.bias)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Per-voxel logits.

        Args:
            inputs (Sequence[Tensor]): Backbone outputs, then the (padded) input volume of
                shape (B, volume_channels, D, H, W) last; ``in_index`` selects a backbone
                output of shape (B, in_channels, d, h, w).

        Returns:
            Tensor: Logits of shape (B, K, D, H, W), contiguous.
        """
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError('LinearSkipHead: inputs must be the backbone outputs followed by '
                             'the raw input volume')
        *features, volume = inputs
        x = self._transform_inputs(features)
        if volume.shape[1] != self.volume_channels:
            raise ValueError(f'LinearSkipHead: volume has {volume.shape[1]} channels, '
                             f'volume_channels is {self.volume_channels}')
        tokens = x.permute(0, 2, 3, 4, 1)
        if self.dropout is not None:
            tokens = self.dropout(tokens)
        weight, bias = self.folded_token_classifier()
        logits = F.linear(tokens, weight, bias).permute(0, 4, 1, 2, 3)  # (B, K, d, h, w)
        if not self.skip:
            logits = trilinear_upsample(logits, volume.shape[2:])
        else:  # + W2_vol x, written into the upsampled logits as they are made
            logits = trilinear_upsample_add_projection(
                logits, self.skip_cls.weight[:, self.out_channels:], volume)
        if self.free_space_class is None:
            return logits
        fixed = logits.new_full((1, self.out_channels, 1, 1, 1), -FREE_SPACE_MARGIN)
        fixed[:, self.free_space_class] = 0.
        free = ~input_observed(volume[:, :1])  # (B, 1, D, H, W)
        return torch.where(free, fixed, logits)

    def predict_by_feat(self, seg_logits: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Logits are already at the input volume's size (no 2D resize as in mmseg)."""
        return seg_logits

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
