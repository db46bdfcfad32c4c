# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Where each token goes in (shifted) window attention: window sizes, masks, one gather each way.

Video Swin pads the token grid to whole windows, rolls it by the shift, cuts it into windows
and adds a per-window mask; after attention it undoes the three. For a given grid all of that
is a fixed permutation of tokens, so here it is computed once per grid shape
(:func:`window_layout`) and applied as one ``index_select`` into windows and one back. The
windows come ordered so that windows sharing a shift mask are side by side: after the roll
only the last window along a shifted axis straddles the wrap-around, so there are at most 8
distinct (N, N) masks and interior windows need none.
"""
import itertools
from functools import lru_cache
from typing import NamedTuple, Optional, Sequence, Tuple

import torch

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


@lru_cache(maxsize=16)
def relative_position_index(window_size: Triple,
                            table_window: Optional[Triple] = None) -> torch.Tensor:
    """(N, N) index into the ((2wd-1)(2wh-1)(2ww-1), nH) bias table of ``table_window``.

    With ``table_window`` equal to ``window_size`` (the default) this is Video Swin's index.
    A window clipped to a small token grid (``window_size`` below ``table_window`` on some
    axis) gets each token pair's true relative offset in the full window's table. Video Swin
    instead slices the full index, ``index[:N, :N]``, which is the same only when the leading
    axis alone is clipped; clipped windows on other axes would read biases of wrong offsets.
    """
    table_window = tuple(window_size if table_window is None else table_window)
    if any(w > t for w, t in zip(window_size, table_window)):
        raise ValueError(f'window {window_size} is larger than the bias table window '
                         f'{table_window}')
    coords = torch.stack(
        torch.meshgrid(*[torch.arange(w) for w in window_size], indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    td, th, tw = table_window
    rel = rel + torch.tensor([td - 1, th - 1, tw - 1])
    strides = torch.tensor([(2 * th - 1) * (2 * tw - 1), 2 * tw - 1, 1])
    return (rel * strides).sum(-1)


@lru_cache(maxsize=64)
def window_mask(window_size: Triple, shift_size: Triple, last: Tuple[bool, ...],
                device: torch.device) -> torch.Tensor:
    """Additive (N, N) mask of a window that is last along the axes flagged in ``last``.

    Along such an axis the window's first ``window - shift`` positions come from one region of
    the shifted grid and the rest wrapped around from the other end.
    """
    ids = []
    for w, s, is_last in zip(window_size, shift_size, last):
        axis = torch.zeros(w, dtype=torch.long)
        if is_last:
            axis[w - s:] = 1
        ids.append(axis)
    region = (ids[0][:, None, None] * 4 + ids[1][None, :, None] * 2 +
              ids[2][None, None, :]).flatten()
    same = region[:, None] == region[None, :]
    return torch.zeros(same.shape).masked_fill_(~same, MASK_VALUE).to(device)


class WindowLayout(NamedTuple):
    """Token <-> window positions of one grid (see :func:`window_layout`)."""
    window: Triple  # window size used on this grid
    num_windows: int
    gather: torch.Tensor  # (num_windows * N,) token of each window position; T = padding
    scatter: torch.Tensor  # (T,) window position of each token
    order: torch.Tensor  # (num_windows,) raster index of each window (before grouping)
    ranges: Tuple[Tuple[int, int, Optional[torch.Tensor]], ...]  # (start, end, mask or None)
    padded: bool  # some window positions are padding (gather == T)


@lru_cache(maxsize=32)
def window_layout(size: Triple, window_size: Triple, shift_size: Triple,
                  device: torch.device) -> WindowLayout:
    """The windows of a (D, H, W) token grid, padded, cyclically shifted and grouped by mask.

    Args:
        size (tuple[int]): Token grid (D, H, W), before padding.
        window_size (tuple[int]): Window, already adapted by :func:`get_window_size`.
        shift_size (tuple[int]): Shift, likewise (zeros for plain windows).
        device (torch.device): Where the index tensors live.

    Returns:
        WindowLayout: ``tokens.index_select(1, gather)`` on (B, T + 1, C) tokens (a zero row
        appended when ``padded``) gives the windows, ``num_windows`` x N positions in grouped
        order; ``index_select(1, scatter)`` on the windows gives the tokens back.
    """
    grid = [-(-s // w) * w for s, w in zip(size, window_size)]  # padded to whole windows
    counts = [g // w for g, w in zip(grid, window_size)]
    # Windows grouped by which shifted axes they are last along (the mask they need).
    index = torch.arange(counts[0] * counts[1] * counts[2]).view(*counts)
    groups = []
    for last in itertools.product((False, True), repeat=3):
        if any(is_last and not s for is_last, s in zip(last, shift_size)):
            continue  # an unshifted axis has no straddling window
        sel = [slice(c - 1, c) if is_last else slice(0, c - 1 if s else c)
               for c, s, is_last in zip(counts, shift_size, last)]
        members = index[tuple(sel)].flatten()
        if members.numel():
            mask = window_mask(window_size, shift_size, last, device) if any(last) else None
            groups.append((members, mask))
    order = torch.cat([m for m, _ in groups])
    ranges, start = [], 0
    for members, mask in groups:
        ranges.append((start, start + members.numel(), mask))
        start += members.numel()
    # Token of every window position: window corner + offset, undo the roll, then the padding.
    corner = torch.stack(torch.unravel_index(order, counts), -1) * torch.tensor(window_size)
    offset = torch.stack(torch.meshgrid(*[torch.arange(w) for w in window_size],
                                        indexing='ij'), -1).view(-1, 3)
    pos = (corner[:, None, :] + offset[None]).view(-1, 3)
    pos = (pos + torch.tensor(shift_size)) % torch.tensor(grid)
    inside = (pos < torch.tensor(size)).all(-1)
    T = size[0] * size[1] * size[2]
    token = (pos[:, 0] * size[1] + pos[:, 1]) * size[2] + pos[:, 2]
    gather = torch.where(inside, token, torch.full_like(token, T))
    scatter = torch.empty(T, dtype=torch.long)
    scatter[token[inside]] = torch.arange(len(gather))[inside]
    return WindowLayout(tuple(window_size), len(order), gather.to(device), scatter.to(device),
                        order.to(device), tuple(ranges), bool((~inside).any()))
