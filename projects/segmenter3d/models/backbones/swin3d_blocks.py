# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Building blocks of the isotropic 3D Swin Transformer (helpers first, then modules).

Tensors inside the blocks are channels-last: ``(B, D, H, W, C)`` where ``(D, H, W)`` are the
volume axes ``(X, Y, Z)``.
"""
import itertools
from functools import lru_cache
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_

from .window_attention import explicit_window_attention, window_attention

Triple = Tuple[int, int, int]

# Attention logits between tokens of different shifted regions get this value, as in Swin.
MASK_VALUE = -100.0


def get_window_size(x_size: Sequence[int], window_size: Triple,
                    shift_size: Triple) -> Tuple[Triple, Triple]:
    """Window and shift actually used for a token grid, as in Video Swin.

    An axis whose token count is not larger than the window takes the whole axis as its window
    and is not shifted.
    """
    use_window, use_shift = list(window_size), list(shift_size)
    for i, size in enumerate(x_size):
        if size <= window_size[i]:
            use_window[i] = size
            use_shift[i] = 0
    return tuple(use_window), tuple(use_shift)


def window_partition(x: torch.Tensor, window_size: Triple) -> torch.Tensor:
    """(B, D, H, W, C) -> (nW, B, N, C) with N = prod(window_size), windows in raster order.

    Window-major (the batch inside): a range of windows is then contiguous for every sample.
    """
    B, D, H, W, C = x.shape
    wd, wh, ww = window_size
    x = x.view(B, D // wd, wd, H // wh, wh, W // ww, ww, C)
    x = x.permute(1, 3, 5, 0, 2, 4, 6, 7)
    return x.reshape(-1, B, wd * wh * ww, C)


def window_reverse(windows: torch.Tensor, window_size: Triple,
                   grid: Triple) -> torch.Tensor:
    """(nW, B, N, C) -> (B, D, H, W, C); the inverse of :func:`window_partition`."""
    B, C = windows.shape[1], windows.shape[-1]
    D, H, W = grid
    wd, wh, ww = window_size
    x = windows.view(D // wd, H // wh, W // ww, B, wd, wh, ww, C)
    x = x.permute(3, 0, 4, 1, 5, 2, 6, 7)
    return x.reshape(B, D, H, W, C)


@lru_cache(maxsize=16)
def relative_position_index(window_size: Triple) -> torch.Tensor:
    """Video Swin's (N, N) index into the ((2wd-1)(2wh-1)(2ww-1), nH) bias table."""
    coords = torch.stack(
        torch.meshgrid(*[torch.arange(w) for w in window_size], indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    wd, wh, ww = window_size
    rel = rel + torch.tensor([wd - 1, wh - 1, ww - 1])
    strides = torch.tensor([(2 * wh - 1) * (2 * ww - 1), 2 * ww - 1, 1])
    return (rel * strides).sum(-1)


class WindowGroups(NamedTuple):
    """Windows of a shifted grid ordered so that each range shares one shift mask.

    After the cyclic shift only the last window along a shifted axis straddles the wrap-around
    (its first ``window - shift`` positions come from one region, the rest from another); every
    other window lies inside one region. A window's mask therefore depends only on which axes
    it is last along: at most 8 distinct (N, N) masks, and none for interior windows.
    """
    order: torch.Tensor  # (nW,) raster window index of each grouped position
    inverse: torch.Tensor  # (nW,) grouped position of each raster window
    ranges: Tuple[Tuple[int, int, Optional[torch.Tensor]], ...]  # (start, end, mask or None)


def _window_mask(window_size: Triple, shift_size: Triple, last: Tuple[bool, ...]) -> torch.Tensor:
    """Additive (N, N) mask of a window that is last along the axes flagged in ``last``."""
    ids = []
    for w, s, is_last in zip(window_size, shift_size, last):
        axis = torch.zeros(w, dtype=torch.long)
        if is_last:  # positions w - s .. w - 1 wrapped around from the volume's start
            axis[w - s:] = 1
        ids.append(axis)
    region = (ids[0][:, None, None] * 4 + ids[1][None, :, None] * 2 +
              ids[2][None, None, :]).flatten()
    same = region[:, None] == region[None, :]
    return torch.zeros(same.shape).masked_fill_(~same, MASK_VALUE)


@lru_cache(maxsize=32)
def shifted_window_groups(grid: Triple, window_size: Triple, shift_size: Triple,
                          device: torch.device) -> Optional[WindowGroups]:
    """:class:`WindowGroups` of a padded ``grid``; None when nothing is shifted."""
    if not any(shift_size):
        return None
    counts = [g // w for g, w in zip(grid, window_size)]
    index = torch.arange(counts[0] * counts[1] * counts[2]).view(*counts)
    patterns = []
    for last in itertools.product((False, True), repeat=3):
        if any(is_last and not s for is_last, s in zip(last, shift_size)):
            continue  # an unshifted axis has no straddling window
        sel = [slice(c - 1, c) if is_last else slice(0, c - 1 if s else c)
               for c, s, is_last in zip(counts, shift_size, last)]
        members = index[tuple(sel)].flatten()
        if members.numel():
            mask = _window_mask(window_size, shift_size, last) if any(last) else None
            patterns.append((members, mask))
    order = torch.cat([m for m, _ in patterns])
    ranges, start = [], 0
    for members, mask in patterns:
        ranges.append((start, start + members.numel(),
                       None if mask is None else mask.to(device)))
        start += members.numel()
    return WindowGroups(order.to(device), torch.argsort(order).to(device), tuple(ranges))


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

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: Triple = (8, 8, 8),
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 fused: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
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
        self.scale = (embed_dims // num_heads)**-0.5
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

    def relative_position_bias(self, num_tokens: int) -> torch.Tensor:
        """(nH, N, N) bias for windows of ``num_tokens`` tokens.

        As in Video Swin (and so in released checkpoints), a window smaller than ``window_size``
        uses the top-left ``N x N`` block of the full window's index table.
        """
        table = self.relative_position_bias_table
        index = relative_position_index(self.window_size).to(table.device)
        index = index[:num_tokens, :num_tokens].reshape(-1)
        # one gather straight into the (nH, N, N) layout
        return table.t().index_select(1, index).view(-1, num_tokens, num_tokens)

    def forward(self, x: torch.Tensor,
                groups: Optional[Sequence[Tuple[int, int, Optional[torch.Tensor]]]] = None
                ) -> torch.Tensor:
        """Attend within windows.

        Args:
            x (Tensor): Windows of shape (nW', N, C) (batch folded into nW').
            groups (Sequence[tuple], optional): ``(start, end, mask)`` ranges of windows
                sharing an additive (N, N) shift mask (or None). Defaults to all windows,
                unmasked.

        Returns:
            Tensor: Shape (nW', N, C).
        """
        nW, N, C = x.shape
        nH = self.num_heads
        if groups is None:
            groups = ((0, nW, None), )
        qkv = self.qkv(x).view(nW, N, 3, nH, C // nH).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (nW', nH, N, hd)
        bias = self.relative_position_bias(N).to(q.dtype)  # (nH, N, N)
        drop = self.attn_drop if self.training else 0.
        if self.fused:
            out = window_attention(q, k, v, bias, groups, dropout_p=drop)
        else:
            out = explicit_window_attention(q, k, v, bias, groups, drop, self.training)
        out = out.transpose(1, 2).reshape(nW, N, C)
        return self.proj_drop(self.proj(out))


class Mlp(BaseModule):
    """Linear -> GELU -> Dropout -> Linear -> Dropout."""

    def __init__(self,
                 in_features: int,
                 hidden_features: int,
                 drop: float = 0.,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
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
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.window_size = tuple(window_size)
        self.shift_size = tuple(w // 2 for w in window_size) if shift else (0, 0, 0)
        self.norm1 = nn.LayerNorm(embed_dims)
        self.attn = WindowAttention3D(embed_dims, num_heads, window_size, qkv_bias, attn_drop,
                                      drop, fused)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(embed_dims)
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio), drop)

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        B, D, H, W, C = x.shape
        window, shift = get_window_size((D, H, W), self.window_size, self.shift_size)
        x = self.norm1(x)
        # Pad (after the norm, with zeros, as the reference) to whole windows.
        pads = [(w - s % w) % w for s, w in zip((D, H, W), window)]
        if any(pads):
            x = F.pad(x, (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
        grid = tuple(x.shape[1:4])
        if any(shift):
            x = torch.roll(x, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
        windows = window_partition(x, window)  # (nW, B, N, C)
        nW, B = windows.shape[:2]
        groups = shifted_window_groups(grid, window, shift, x.device)
        if groups is None:
            windows = self.attn(windows.flatten(0, 1))
        else:  # windows sharing a shift mask side by side
            ranges = [(s * B, e * B, m) for s, e, m in groups.ranges]
            windows = self.attn(windows.index_select(0, groups.order).flatten(0, 1), ranges)
            windows = windows.view(nW, B, *windows.shape[1:]).index_select(0, groups.inverse)
        x = window_reverse(windows.view(nW, B, *windows.shape[-2:]), window, grid)
        if any(shift):
            x = torch.roll(x, shifts=shift, dims=(1, 2, 3))
        if any(pads):
            x = x[:, :D, :H, :W].contiguous()
        return x

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

    def __init__(self, embed_dims: int, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.norm = nn.LayerNorm(8 * embed_dims)
        self.reduction = nn.Linear(8 * embed_dims, 2 * embed_dims, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W, C) -> (B, ceil(D/2), ceil(H/2), ceil(W/2), 2C)."""
        B, D, H, W, C = x.shape
        if D % 2 or H % 2 or W % 2:
            x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2, 0, D % 2))
            D, H, W = x.shape[1:4]
        x = x.view(B, D // 2, 2, H // 2, 2, W // 2, 2, C)
        x = x.permute(0, 1, 3, 5, 6, 4, 2, 7).reshape(B, D // 2, H // 2, W // 2, 8 * C)
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
        self.downsample = PatchMerging3D(embed_dims) if downsample else None

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        for block in self.blocks:
            if self.with_cp and x.requires_grad:
                x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x, (self.downsample(x) if self.downsample is not None else None)
