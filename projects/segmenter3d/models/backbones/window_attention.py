# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Window attention with a learnable relative position bias, without (windows x N x N) tensors.

``softmax(q k^T * scale + bias + mask) v`` over many windows is where a 3D Swin spends its
attention time and memory: written out, it builds the logits of every window (384 MB per block
for 3DSeg-L at 128^3), keeps the probabilities for backward, and adds a per-window shift mask.
Here

* windows arrive grouped so that all windows of a group share one (N, N) shift mask (see
  ``window_layout.py``): the additive term of a group is one (nH, N, N) tensor broadcast over
  its windows, never a per-window copy;
* on CPU the forward is torch's flash-attention kernel, which also returns each row's
  log-sum-exp; the backward recomputes the probabilities a window or two at a time from
  ``q, k`` and that log-sum-exp (the flash-attention recipe, in cache-sized chunks), and sums
  the bias gradient over windows, which torch's fused CPU backward cannot give; masked pairs
  get exactly 0 there (their weight, below exp(-100), would be a float32 denormal, and
  denormals slow every later product down many times);
* elsewhere (CUDA), or with attention dropout, each group is one
  ``scaled_dot_product_attention`` call, whose own kernels differentiate the additive mask.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

# Windows are [start, end) ranges of the window axis sharing one additive (N, N) mask that is
# 0 where attention is allowed and large negative (Swin's -100) where it is not.
WindowGroups = Sequence[Tuple[int, int, Optional[Tensor]]]

# Probabilities recomputed at once in backward: small enough to stay in the L2/L3 cache.
CHUNK_BYTES = 8 * 2**20
# Log-probabilities are clamped to [EXP_FLOOR, 0] before exp (exp(-80) ~ 2e-35).
EXP_FLOOR = -80.
# torch's CPU flash kernel with its log-sum-exp (a private op; torch >= 2.3 has it)
HAS_FLASH_CPU = hasattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu')


def _flash_cpu(q: Tensor, k: Tensor, v: Tensor, term: Tensor) -> Tuple[Tensor, Tensor]:
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        q, k, v, attn_mask=term.unsqueeze(0))


def _group_term(bias: Tensor, mask: Optional[Tensor]) -> Tensor:
    """(nH, N, N) additive logits term of one group."""
    return bias if mask is None else bias + mask.to(bias.dtype)


class _CPUWindowAttention(torch.autograd.Function):
    """Flash forward per group; chunked recomputing backward with the bias gradient."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, bias: Tensor, groups: WindowGroups):
        out = q.new_empty(q.shape)
        lse = q.new_empty(q.shape[:-1])
        for start, end, mask in groups:
            out[start:end], lse[start:end] = _flash_cpu(q[start:end], k[start:end],
                                                        v[start:end], _group_term(bias, mask))
        ctx.groups = groups
        ctx.save_for_backward(q, k, v, bias, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        q, k, v, bias, out, lse = ctx.saved_tensors
        scale = q.shape[-1]**-0.5
        grad_out = grad_out.contiguous()
        q_scaled = q * scale
        # dS = P * (dP - rowsum(dO * O)) needs the row sums once
        delta = (grad_out * out).sum(-1, keepdim=True)
        grad_q, grad_k, grad_v = (torch.empty_like(t) for t in (q, k, v))
        grad_bias = torch.zeros_like(bias)
        nH, N = q.shape[1], q.shape[2]
        step = max(1, CHUNK_BYTES // (nH * N * N * q.element_size()))
        for start, end, mask in ctx.groups:
            # Masked pairs get exactly 0 (their true weight is below exp(-100)): keeping them at
            # exp(-100) would feed denormals to every later product, which is many times slower.
            keep = None if mask is None else (mask == 0).to(q.dtype)
            for s in range(start, end, step):
                e = min(s + step, end)
                qc, kc, vc, do = q_scaled[s:e], k[s:e], v[s:e], grad_out[s:e]
                prob = torch.matmul(qc, kc.transpose(-2, -1)).add_(bias)
                # exp of arguments below -87 takes a slow path; the floor is 0 in float32 sums
                prob = prob.sub_(lse[s:e].unsqueeze(-1)).clamp_(EXP_FLOOR, 0.).exp_()
                if keep is not None:
                    prob.mul_(keep)
                grad_v[s:e] = prob.transpose(-2, -1) @ do
                grad_s = torch.matmul(do, vc.transpose(-2, -1))
                grad_s.sub_(delta[s:e]).mul_(prob)
                del prob
                grad_bias += grad_s[0] if e - s == 1 else grad_s.sum(0)
                grad_q[s:e] = torch.matmul(grad_s, kc).mul_(scale)
                grad_k[s:e] = grad_s.transpose(-2, -1) @ qc
        return grad_q, grad_k, grad_v, grad_bias, None


def _attention_by_group(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, groups: WindowGroups,
                        dropout_p: float) -> Tensor:
    """One ``scaled_dot_product_attention`` per group (any device, differentiable)."""
    outs: List[Tensor] = []
    for start, end, mask in groups:
        term = _group_term(bias, mask).unsqueeze(0).expand(end - start, -1, -1, -1)
        outs.append(F.scaled_dot_product_attention(q[start:end], k[start:end], v[start:end],
                                                   attn_mask=term, dropout_p=dropout_p))
    return outs[0] if len(outs) == 1 else torch.cat(outs)


def explicit_window_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor,
                              groups: WindowGroups, dropout_p: float = 0.,
                              training: bool = False) -> Tensor:
    """The same attention spelled out (logits, softmax, weighted sum): the reference."""
    outs: List[Tensor] = []
    for start, end, mask in groups:
        logits = (q[start:end] * q.shape[-1]**-0.5) @ k[start:end].transpose(-2, -1)
        attn = (logits + _group_term(bias, mask)).softmax(dim=-1)
        attn = F.dropout(attn, p=dropout_p, training=training)
        outs.append(attn @ v[start:end])
    return outs[0] if len(outs) == 1 else torch.cat(outs)


def window_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, groups: WindowGroups,
                     dropout_p: float = 0.) -> Tensor:
    """Attention inside windows with an additive bias shared by all windows.

    Args:
        q, k, v (Tensor): (nW', nH, N, hd) for nW' windows (batch folded in).
        bias (Tensor): (nH, N, N) relative position bias (may require grad).
        groups (Sequence[tuple]): ``(start, end, mask)`` ranges covering the windows; ``mask``
            is an additive (N, N) shift mask shared by the range's windows, or None.
        dropout_p (float): Attention dropout (then the per-group SDPA path is used).

    Returns:
        Tensor: (nW', nH, N, hd).
    """
    if (HAS_FLASH_CPU and q.device.type == 'cpu' and dropout_p == 0
            and q.dtype in (torch.float32, torch.float64)):
        return _CPUWindowAttention.apply(q, k, v, bias, groups)
    return _attention_by_group(q, k, v, bias, groups, dropout_p)
