# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Isotropic 3D Swin Transformer, the encoder of 3D Segmenter (ICLR 2023)."""
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ...checkpoint_io import read_state_dict, weight_mismatches
from ...utils import to_triple
from .swin3d_blocks import SwinStage3D
from .swin3d_convert import backbone_state_from_any


@MODELS.register_module()
class SwinTransformer3D(BaseModule):
    """3D Swin Transformer on dense voxel volumes.

    Patch embedding is one Conv3d (kernel = stride = ``patch_size``, no norm); stages of
    (shifted) 3D window attention blocks are joined by 2x2x2 patch merging. The last stage
    output goes through its LayerNorm, dropout and, with ``final_norm``, a second LayerNorm
    (the reference release's layout).

    Inputs of any size are accepted: the volume is zero-padded at the end of each axis to a
    multiple of ``patch_size * 2 ** (num_stages - 1)``, and each stage pads to whole windows
    internally. Outputs are on the padded token grid; :meth:`padded_size` tells its size.

    Args:
        arch (str | dict): ``'t'``, ``'b'``, ``'m'``, ``'l'`` (or ``'tiny'``, ``'base'``,
            ``'medium'``, ``'large'``), or a dict with keys ``embed_dims``, ``depths``,
            ``num_heads``. Defaults to ``'t'``.
        in_channels (int): Input channels (tsdf + rgb). Defaults to 4.
        patch_size (int | tuple[int]): Patch size. Defaults to 4.
        window_size (int | tuple[int]): Attention window in tokens. Defaults to 8.
        mlp_ratio (float): Defaults to 4.
        qkv_bias (bool): Defaults to True.
        drop_rate (float): Dropout after patch embedding, in MLPs and before the final norm.
            Defaults to 0.
        attn_drop_rate (float): Defaults to 0.
        drop_path_rate (float): Stochastic depth, linearly increasing over blocks.
            Defaults to 0.2.
        out_indices (Sequence[int]): Stages whose outputs are returned. Defaults to ``(-1,)``.
        final_norm (bool): The second LayerNorm after the last stage. Defaults to True.
        frozen_stages (int): As in mmseg's Swin: 0 freezes the patch embedding, ``n > 0``
            also the first ``n`` stages with their output norms (parameters fixed, eval
            mode); -1 freezes nothing. Defaults to -1.
        with_cp (bool): Activation checkpointing of each block. Defaults to False.
        norm_cfg (dict): Every norm layer, built by mmcv's ``build_norm_layer``.
            Defaults to ``dict(type='LN')``.
        act_cfg (dict): MLP activation, built by mmcv's ``build_activation_layer``.
            Defaults to ``dict(type='GELU')``.
        fused_attention (bool): Fused window attention that keeps no (windows, N, N)
            tensor, forward or backward; ``False`` spells the softmax out (the reference the
            tests compare against). Defaults to True.
        pretrained (str, optional): Deprecated alias of
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``, as in mmseg.
            Defaults to None.
        init_cfg (dict | list[dict], optional): ``dict(type='Pretrained', checkpoint=...,
            prefix=...)`` loads a checkpoint of this backbone (ours, a whole segmentor's with
            ``prefix='backbone.'``, or the reference layout) strictly: a checkpoint that does
            not fit raises a ValueError naming the keys. Defaults to TruncNormal on Linear and
            Constant on LayerNorm.

    Example:
        >>> model = SwinTransformer3D('t')
        >>> [o.shape for o in model(torch.rand(1, 4, 40, 56, 72))]
        [torch.Size([1, 96, 5, 7, 9])]
    """
    arch_zoo: Dict[str, dict] = {
        **dict.fromkeys(['t', 'tiny'], dict(embed_dims=48, depths=[2, 2], num_heads=[3, 3])),
        **dict.fromkeys(['b', 'base'], dict(embed_dims=48, depths=[2, 4], num_heads=[3, 3])),
        **dict.fromkeys(['m', 'medium'], dict(embed_dims=64, depths=[3, 6], num_heads=[4, 4])),
        **dict.fromkeys(['l', 'large'], dict(embed_dims=96, depths=[4, 8], num_heads=[6, 6])),
    }
    _arch_keys = {'embed_dims', 'depths', 'num_heads'}

    def __init__(self,
                 arch: Union[str, dict] = 't',
                 in_channels: int = 4,
                 patch_size: Union[int, Sequence[int]] = 4,
                 window_size: Union[int, Sequence[int]] = 8,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.2,
                 out_indices: Sequence[int] = (-1, ),
                 final_norm: bool = True,
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 norm_cfg: dict = dict(type='LN'),
                 act_cfg: dict = dict(type='GELU'),
                 fused_attention: bool = True,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        if pretrained is not None:
            if init_cfg is not None:
                raise ValueError('SwinTransformer3D: init_cfg and pretrained cannot both be set')
            warnings.warn('SwinTransformer3D: pretrained is deprecated, use '
                          "init_cfg=dict(type='Pretrained', checkpoint=...)", DeprecationWarning)
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        if init_cfg is None:
            init_cfg = [
                dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
                dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
            ]
        super().__init__(init_cfg=init_cfg)
        self.arch = self._parse_arch(arch)
        self.embed_dims = self.arch['embed_dims']
        depths, heads = self.arch['depths'], self.arch['num_heads']
        self.num_stages = len(depths)
        self.in_channels = in_channels
        self.patch_size = to_triple(patch_size, 'SwinTransformer3D patch_size')
        self.window_size = to_triple(window_size, 'SwinTransformer3D window_size')
        self.out_indices = self._parse_out_indices(out_indices)
        self.frozen_stages = frozen_stages
        self.stage_channels = [self.embed_dims * 2**i for i in range(self.num_stages)]

        self.patch_embed = nn.Conv3d(in_channels, self.embed_dims, self.patch_size,
                                     self.patch_size)
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stages = nn.ModuleList()
        for i, (depth, num_heads) in enumerate(zip(depths, heads)):
            start = sum(depths[:i])
            self.stages.append(
                SwinStage3D(self.stage_channels[i], depth, num_heads, self.window_size,
                            dpr[start:start + depth], downsample=i < self.num_stages - 1,
                            with_cp=with_cp, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                            drop=drop_rate, attn_drop=attn_drop_rate,
                            fused=fused_attention, norm_cfg=norm_cfg, act_cfg=act_cfg))
        # One LayerNorm per returned stage; the last stage's is Swin's closing norm.
        for i in self.out_indices:
            self.add_module(f'norm{i}', build_norm_layer(norm_cfg, self.stage_channels[i])[1])
        last = self.num_stages - 1
        if last in self.out_indices:
            self.out_drop = nn.Dropout(drop_rate)
            self.final_norm = (build_norm_layer(norm_cfg, self.stage_channels[last])[1]
                               if final_norm else None)
        self._freeze_stages()

    # ------------------------------------------------------------------ configuration
    def _parse_arch(self, arch: Union[str, dict]) -> dict:
        if isinstance(arch, str):
            key = arch.lower()
            if key not in self.arch_zoo:
                raise ValueError(f'SwinTransformer3D: unknown arch {arch!r}; choose one of '
                                 f'{sorted(set(self.arch_zoo))} or pass a dict with keys '
                                 f'{sorted(self._arch_keys)}')
            return dict(self.arch_zoo[key])
        if not isinstance(arch, dict) or set(arch) != self._arch_keys:
            raise ValueError(f'SwinTransformer3D: a custom arch must be a dict with exactly the '
                             f'keys {sorted(self._arch_keys)}, got {arch!r}')
        if len(arch['depths']) != len(arch['num_heads']):
            raise ValueError(f"SwinTransformer3D: arch depths {arch['depths']} and num_heads "
                             f"{arch['num_heads']} must have the same length")
        return dict(arch)

    def _parse_out_indices(self, out_indices: Union[int, Sequence[int]]) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        parsed = []
        for i in out_indices:
            j = i + self.num_stages if i < 0 else i
            if not 0 <= j < self.num_stages:
                raise ValueError(f'SwinTransformer3D: out_indices entry {i} is out of range '
                                 f'for {self.num_stages} stages')
            parsed.append(j)
        return tuple(sorted(set(parsed)))

    @property
    def size_divisor(self) -> Tuple[int, int, int]:
        """Inputs are padded to multiples of this (patch size times all merges)."""
        return tuple(p * 2**(self.num_stages - 1) for p in self.patch_size)

    def padded_size(self, size: Sequence[int]) -> Tuple[int, int, int]:
        return tuple(-(-s // d) * d for s, d in zip(size, self.size_divisor))

    def pad_to_divisor(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad (B, C, D, H, W) at the end of each axis to :meth:`padded_size`, as the
        reference release pads inside its network (zeros, not the empty-space encoding:
        what released checkpoints saw)."""
        pads = [p - s for s, p in zip(x.shape[2:], self.padded_size(x.shape[2:]))]
        return F.pad(x, (0, pads[2], 0, pads[1], 0, pads[0])) if any(pads) else x

    # ------------------------------------------------------------------ weights
    def init_weights(self) -> None:
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        if 'checkpoint' not in cfg:
            raise ValueError("SwinTransformer3D: init_cfg type='Pretrained' needs 'checkpoint'")
        path, prefix = cfg['checkpoint'], cfg.get('prefix')
        _, state = read_state_dict(path, 'pretrained backbone checkpoint')
        if prefix:
            prefix = prefix if prefix.endswith('.') else prefix + '.'
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if not state:
                raise ValueError(f'{path}: no keys start with init_cfg.prefix {prefix!r}')
        state = backbone_state_from_any(state, self.num_stages)
        problems = weight_mismatches(self, state)
        if problems:
            raise ValueError(f'{path}: does not fit SwinTransformer3D (another variant, or a '
                             f'wrong init_cfg.prefix?): ' + '; '.join(problems))
        self.load_state_dict(state, strict=True)
        print_log(f'SwinTransformer3D: loaded every weight from {path}', logger='current')

    def _freeze_stages(self) -> None:
        """mmseg's Swin rule: 0 freezes the patch embedding, n also stages 0..n-1 (norms too)."""
        frozen = []
        if self.frozen_stages >= 0:
            frozen.append(self.patch_embed)
        for i in range(min(self.frozen_stages, self.num_stages)):
            frozen.append(self.stages[i])
            if i in self.out_indices:
                frozen.append(getattr(self, f'norm{i}'))
            if i == self.num_stages - 1 and getattr(self, 'final_norm', None) is not None:
                frozen.append(self.final_norm)
        for module in frozen:
            module.eval()
            for p in module.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> 'SwinTransformer3D':
        super().train(mode)
        self._freeze_stages()
        return self

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Encode a volume.

        Args:
            x (Tensor): Shape (B, in_channels, D, H, W), any D, H, W.

        Returns:
            tuple[Tensor]: For each of ``out_indices``, shape
            (B, embed_dims * 2**i, Dp / (4 * 2**i), Hp / ..., Wp / ...) where (Dp, Hp, Wp)
            is :meth:`padded_size` of the input.
        """
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f'SwinTransformer3D expects input of shape (B, {self.in_channels}, '
                             f'D, H, W), got {tuple(x.shape)}')
        x = self.pos_drop(self.patch_embed(self.pad_to_divisor(x)).permute(0, 2, 3, 4, 1))
        outs = []
        for i, stage in enumerate(self.stages):
            out, merged = stage(x)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(out)
                if i == self.num_stages - 1:
                    out = self.out_drop(out)
                    if self.final_norm is not None:
                        out = self.final_norm(out)
                outs.append(out.permute(0, 4, 1, 2, 3).contiguous())
            x = merged
        return tuple(outs)
