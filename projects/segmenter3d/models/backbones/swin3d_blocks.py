# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Building blocks of the isotropic 3D Swin Transformer (window geometry: window_layout.py).

Tensors inside the blocks are channels-last: ``(B, D, H, W, C)`` where ``(D, H, W)`` are the
volume axes ``(X, Y, Z)``.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_

from .window_attention import explicit_window_attention, window_attention
from .window_layout import Triple, get_window_size, relative_position_index, window_layout


class WindowAttention3D(BaseModule):
    """Multi-head self attention inside 3D windows with a relative position bias.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads; must divide ``embed_dims``.
        window_size (tuple[int]): Window (wd, wh, ww). Defaults to ``(8, 8, 8)``.
        qkv_bias (bool): Bias on the qkv projection. Defaults to ``True``.
        attn_drop (float): Dropout on attention weights. Defaults to 0.
        proj_drop (float): Dropout after the output projection. Defaults to 0.
        fused (bool): Fused attention that keeps no (windows, N, N) tensor (see
            :func:`window_attention`); ``False`` spells the softmax out (the reference).
            Defaults to ``True``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: Triple = (8, 8, 8),
                 qkv_bias: bool = True, attn_drop: float = 0., proj_drop: float = 0.,
                 fused: bool = True, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if fused not in (True, False):
            raise ValueError(f'fused_attention must be True or False, got {fused!r}')
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible by num_heads '
                             f'({num_heads}); try num_heads in '
                             f'{[h for h in range(1, embed_dims + 1) if embed_dims % h == 0]}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.window_size = tuple(window_size)
        self.fused = fused
        self.attn_drop = attn_drop
        num_rel = (2 * window_size[0] - 1) * (2 * window_size[1] - 1) * (2 * window_size[2] - 1)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(num_rel, num_heads))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def init_weights(self) -> None:
        super().init_weights()
        trunc_normal_(self.relative_position_bias_table, std=.02)

    def relative_position_bias(self, window: Optional[Triple] = None) -> torch.Tensor:
        """(nH, N, N) bias for windows of shape ``window`` (N tokens).

        A window clipped to a small token grid reads each token pair's true relative offset
        from the full window's table (see :func:`relative_position_index`); for full windows
        this is Video Swin's bias, so released checkpoints give the reference's logits.

        Args:
            window (tuple[int], optional): Window actually used. Defaults to ``window_size``.
        """
        window = self.window_size if window is None else tuple(window)
        table = self.relative_position_bias_table
        index = relative_position_index(window, self.window_size).to(table.device).reshape(-1)
        n = window[0] * window[1] * window[2]
        # one gather straight into the (nH, N, N) layout
        return table.t().index_select(1, index).view(-1, n, n)

    def forward(self, x: torch.Tensor,
                groups: Optional[Sequence[Tuple[int, int, Optional[torch.Tensor]]]] = None,
                window: Optional[Triple] = None) -> torch.Tensor:
        """Attend within windows.

        Args:
            x (Tensor): Windows of shape (nW', N, C) (batch folded into nW').
            groups (Sequence[tuple], optional): ``(start, end, mask)`` ranges of windows
                sharing an additive (N, N) shift mask (or None). Defaults to all windows,
                unmasked.
            window (tuple[int], optional): Shape of the windows (N tokens), smaller than
                ``window_size`` where the token grid is. Defaults to ``window_size``.

        Returns:
            Tensor: Shape (nW', N, C).
        """
        nW, N, C = x.shape
        nH = self.num_heads
        if groups is None:
            groups = ((0, nW, None), )
        q, k, v = rearrange(self.qkv(x), 'w n (k h d) -> k w h n d', k=3,
                            h=nH).unbind(0)  # (nW', nH, N, hd)
        window = self.window_size if window is None else tuple(window)
        if window[0] * window[1] * window[2] != N:
            raise ValueError(f'WindowAttention3D: windows of {N} tokens do not have the shape '
                             f'{window}')
        bias = self.relative_position_bias(window).to(q.dtype)  # (nH, N, N)
        drop = self.attn_drop if self.training else 0.
        if self.fused:
            out = window_attention(q, k, v, bias, groups, dropout_p=drop)
        else:
            out = explicit_window_attention(q, k, v, bias, groups, drop, self.training)
        out = out.transpose(1, 2).reshape(nW, N, C)
        return self.proj_drop(self.proj(out))


class Mlp(BaseModule):
    """Linear -> activation (GELU) -> Dropout -> Linear -> Dropout."""

    def __init__(self,
                 in_features: int,
                 hidden_features: int,
                 drop: float = 0.,
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class SwinBlock3D(BaseModule):
    """Pre-norm (shifted) window attention block followed by an MLP.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads.
        window_size (tuple[int]): Window size. Defaults to ``(8, 8, 8)``.
        shift (bool): Shift windows by half a window (masked). Defaults to False.
        mlp_ratio (float): MLP hidden width over C. Defaults to 4.
        qkv_bias (bool): Defaults to True.
        drop (float): Dropout rate. Defaults to 0.
        attn_drop (float): Attention dropout rate. Defaults to 0.
        drop_path (float): Stochastic depth rate. Defaults to 0.
        fused (bool): See :class:`WindowAttention3D`. Defaults to True.
        norm_cfg (dict): Norm layers, built by mmcv. Defaults to ``dict(type='LN')``.
        act_cfg (dict): MLP activation, built by mmcv. Defaults to ``dict(type='GELU')``.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: Triple = (8, 8, 8),
                 shift: bool = False,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop: float = 0.,
                 attn_drop: float = 0.,
                 drop_path: float = 0.,
                 fused: bool = True,
                 norm_cfg: dict = dict(type='LN'),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.window_size = tuple(window_size)
        self.shift_size = tuple(w // 2 for w in window_size) if shift else (0, 0, 0)
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = WindowAttention3D(embed_dims, num_heads, window_size, qkv_bias, attn_drop,
                                      drop, fused)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio), drop, act_cfg)

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        B, D, H, W, C = x.shape
        window, shift = get_window_size((D, H, W), self.window_size, self.shift_size)
        layout = window_layout((D, H, W), window, shift, x.device)
        tokens = self.norm1(x).view(B, -1, C)
        if layout.padded:  # padding positions read a zero token (after the norm, as Swin)
            tokens = torch.cat([tokens, tokens.new_zeros(B, 1, C)], dim=1)
        # pad + roll + window partition + grouping by mask: one gather
        # window-major (the windows of one mask group are contiguous over the batch)
        windows = rearrange(tokens.index_select(1, layout.gather), 'b (w n) c -> (w b) n c',
                            w=layout.num_windows)
        ranges = [(s * B, e * B, m) for s, e, m in layout.ranges]
        out = rearrange(self.attn(windows, ranges, window), '(w b) n c -> b (w n) c', b=B)
        return out.index_select(1, layout.scatter).view(B, D, H, W, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W, C) -> (B, D, H, W, C)."""
        x = x + self.drop_path(self._attention(x))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging3D(BaseModule):
    """Concatenate each 2x2x2 neighbourhood (8C), LayerNorm, Linear(8C -> 2C, no bias).

    Sub-lattices are concatenated with the D offset varying fastest, then H, then W:
    (0,0,0), (1,0,0), (0,1,0), (1,1,0), (0,0,1), ... as in the reference release. Odd axes are
    zero-padded at their end.
    """

    def __init__(self, embed_dims: int, norm_cfg: dict = dict(type='LN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.norm = build_norm_layer(norm_cfg, 8 * embed_dims)[1]
        self.reduction = nn.Linear(8 * embed_dims, 2 * embed_dims, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W, C) -> (B, ceil(D/2), ceil(H/2), ceil(W/2), 2C)."""
        D, H, W = x.shape[1:4]
        if D % 2 or H % 2 or W % 2:
            x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2, 0, D % 2))
        # offsets (p, q, r) along (D, H, W); the channel block of a sub-lattice is 4r + 2q + p
        x = rearrange(x, 'b (d p) (h q) (w r) c -> b d h w (r q p c)', p=2, q=2, r=2)
        return self.reduction(self.norm(x))


class SwinStage3D(BaseModule):
    """``depth`` blocks alternating plain and shifted windows, optionally a patch merging.

    Returns both the stage output (before merging) and the merged tokens for the next stage.
    """

    def __init__(self,
                 embed_dims: int,
                 depth: int,
                 num_heads: int,
                 window_size: Triple,
                 drop_paths: Sequence[float],
                 downsample: bool,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None,
                 **block_kwargs) -> None:
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp
        self.blocks = nn.ModuleList([
            SwinBlock3D(embed_dims, num_heads, window_size, shift=i % 2 == 1,
                        drop_path=drop_paths[i], **block_kwargs) for i in range(depth)
        ])
        norm_cfg = block_kwargs.get('norm_cfg', dict(type='LN'))
        self.downsample = PatchMerging3D(embed_dims, norm_cfg) if downsample else None

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        for block in self.blocks:
            if self.with_cp and x.requires_grad:
                x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x, (self.downsample(x) if self.downsample is not None else None)
