# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Sparse-convolution U-Net baseline (SparseConvNet / MinkUNet family) as an mmseg backbone."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ...encoding import input_observed
from .spconv_cpu import import_spconv

#: norms that act on a (N, C) matrix of voxel features: batch statistics over every active
#: voxel of the batch (BN1d), or each voxel over its own channels (GN groups, LN all)
SPARSE_NORMS = ('BN1d', 'GN', 'LN')


@MODELS.register_module()
class SparseUNet3D(BaseModule):
    """mmdet3d's ``MinkUNetBackbone`` (spconv backend) on the voxels that are not free space.

    Only voxels whose network-input tsdf channel is above the free-space truncation
    (``x[:, 0] > -3``: the surface band and solid interiors; ``tsdf < 3`` in the stored
    convention) enter the network, as a sparse tensor of their 4 input channels. Submanifold
    3x3x3 convolutions keep that set of voxels, strided 2x2x2 convolutions build the coarser
    levels from it, and inverse convolutions come back to it. The last decoder's features are
    scattered back onto the dense grid; free voxels get zero features, and the decode head
    (``LinearSkipHead(free_space_class=0)`` in our configs) labels them class 0 (void) by
    construction: the network never sees, and never decides, free space.

    The forward builds the sparse tensor itself (rather than calling the library's forward)
    on a grid padded to a multiple of ``2**num_stages`` and with the batch size of the input:
    the library derives both from the largest occupied coordinate, which drops voxels on the
    far edge of an odd-sized room at the first strided convolution and miscounts the batch when
    its last sample has no active voxel.

    Args:
        in_channels (int): Input channels (tsdf, r, g, b). Defaults to 4.
        base_channels (int): Channels of the two input submanifold convolutions.
            Defaults to 16.
        encoder_channels (Sequence[int]): Channels of each encoder stage (one stage per
            2x downsampling). Defaults to (16, 32, 64, 128).
        decoder_channels (Sequence[int]): Channels of each decoder stage, coarsest first;
            the last one is the output width. Defaults to (128, 64, 32, 32).
        encoder_blocks (Sequence[int]): Residual blocks per encoder stage.
            Defaults to (1, 1, 1, 1).
        decoder_blocks (Sequence[int]): Residual blocks per decoder stage.
            Defaults to (1, 1, 1, 1).
        block_type (str): ``'basic'`` or ``'bottleneck'`` residual blocks. Defaults to 'basic'.
        norm_cfg (dict): Replaces every norm of the library's network: ``BN1d`` (its choice;
            statistics over the active voxels of the batch), ``GN`` (with ``num_groups``) or
            ``LN`` (each voxel over its channels). Instance norm is not offered: spconv's
            layers give a norm the voxel features without their sample index.
            Defaults to ``dict(type='BN1d')`` (momentum 0.1, for short schedules).
        init_cfg (dict, optional): Defaults to None (spconv's and torch's own initialisation).

    Returns from ``forward``: a 1-tuple with the dense feature (B, decoder_channels[-1], D, H, W),
    zero on free voxels.
    """

    def __init__(self,
                 in_channels: int = 4,
                 base_channels: int = 16,
                 encoder_channels: Sequence[int] = (16, 32, 64, 128),
                 decoder_channels: Sequence[int] = (128, 64, 32, 32),
                 encoder_blocks: Sequence[int] = (1, 1, 1, 1),
                 decoder_blocks: Sequence[int] = (1, 1, 1, 1),
                 block_type: str = 'basic',
                 norm_cfg: dict = dict(type='BN1d'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self._spconv = import_spconv()
        lengths = {len(encoder_channels), len(decoder_channels), len(encoder_blocks),
                   len(decoder_blocks)}
        if len(lengths) != 1:
            raise ValueError('SparseUNet3D: encoder_channels, decoder_channels, encoder_blocks '
                             'and decoder_blocks need one entry per stage, got lengths '
                             f'{len(encoder_channels)}, {len(decoder_channels)}, '
                             f'{len(encoder_blocks)}, {len(decoder_blocks)}')
        if block_type not in ('basic', 'bottleneck'):
            raise ValueError(f"SparseUNet3D: block_type must be 'basic' or 'bottleneck', got "
                             f'{block_type!r}')
        from mmdet3d.models.backbones import MinkUNetBackbone
        self.in_channels = in_channels
        self.num_stages = len(encoder_channels)
        # the library edits these lists in place: hand it copies
        self.unet = MinkUNetBackbone(
            in_channels=in_channels, base_channels=base_channels, num_stages=self.num_stages,
            encoder_channels=list(encoder_channels), encoder_blocks=list(encoder_blocks),
            decoder_channels=list(decoder_channels), decoder_blocks=list(decoder_blocks),
            block_type=block_type, sparseconv_backend='spconv')
        self.norm_cfg = dict(norm_cfg)
        _replace_norms(self.unet, self.norm_cfg)
        self.stage_channels = [decoder_channels[-1]]
        self.out_indices = (0, )

    @property
    def grid_divisor(self) -> int:
        """The sparse grid's sides are padded to a multiple of this (one 2x per stage)."""
        return 2**self.num_stages

    def sparse_input(self, x: torch.Tensor):
        """The non-free voxels of a dense (B, C, D, H, W) input as a ``SparseConvTensor``
        (indices (N, 4) = batch, d, h, w; features (N, C))."""
        active = input_observed(x[:, 0])
        # nonzero() returns a column-major (N, 4) tensor and .int() keeps its strides, but
        # spconv reads raw row-major memory: without .contiguous() it sees scrambled voxels
        indices = active.nonzero().int().contiguous()  # batch-major, as spconv expects
        features = x.permute(0, 2, 3, 4, 1)[active].contiguous()
        shape = [-(-s // self.grid_divisor) * self.grid_divisor for s in x.shape[2:]]
        return self._spconv.SparseConvTensor(features, indices, shape, x.shape[0])

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f'SparseUNet3D expects input of shape (B, {self.in_channels}, D, H, '
                             f'W), got {tuple(x.shape)}')
        B, _, D, H, W = x.shape
        out = x.new_zeros(B, D, H, W, self.stage_channels[0])
        sparse = self.sparse_input(x)
        if sparse.indices.shape[0] == 0:  # nothing but free space
            return (out.permute(0, 4, 1, 2, 3).contiguous(), )
        unet = self.unet
        y = unet.conv_input(sparse)
        laterals = [y]
        for stage in unet.encoder:
            y = stage(y)
            laterals.append(y)
        laterals = laterals[-2::-1]
        for (up, blocks), lateral in zip(unet.decoder, laterals):
            y = up(y)  # the inverse convolution comes back to the lateral's voxels, same order
            y = blocks(y.replace_feature(torch.cat((y.features, lateral.features), dim=1)))
        index = y.indices.long()
        out = out.index_put((index[:, 0], index[:, 1], index[:, 2], index[:, 3]), y.features)
        return (out.permute(0, 4, 1, 2, 3).contiguous(), )


def _replace_norms(module: nn.Module, norm_cfg: dict) -> None:
    """Swap every ``BatchNorm1d`` of ``module`` (the library builds no other norm) for
    ``norm_cfg`` of the same width."""
    if norm_cfg.get('type') not in SPARSE_NORMS:
        raise ValueError(f"SparseUNet3D: norm_cfg.type must be one of {list(SPARSE_NORMS)} "
                         f"(norms of (N, C) voxel features), got {norm_cfg.get('type')!r}")
    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm1d):
            try:
                setattr(module, name, build_norm_layer(norm_cfg, child.num_features)[1])
            except (AssertionError, ValueError) as err:
                raise ValueError(f'SparseUNet3D: norm_cfg {norm_cfg} does not fit a layer of '
                                 f'{child.num_features} channels ({err})') from err
        else:
            _replace_norms(child, norm_cfg)
