# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Window attention with a learnable relative position bias, without (windows x N x N) tensors.

``softmax(q k^T * scale + bias + mask) v`` over many windows is where a 3D Swin spends its time
and memory: the plain form builds the bias-plus-mask logits of every window (400 MB per block
for 3DSeg-L at 128^3) and keeps the probabilities for backward. Here

* the forward runs ``scaled_dot_product_attention`` on a few windows at a time, so torch's
  fused kernel (flash attention on CPU) sees a 4-D problem with a small additive mask;
* on CPU with gradients and ``low_memory``, a custom backward recomputes the probabilities a
  chunk of windows at a time from the saved ``q, k, v`` and output (the flash-attention
  recipe), and sums the bias gradient over windows; torch's fused CPU kernel cannot give a
  gradient for the mask. Without ``low_memory`` training uses torch's differentiable math
  kernel (faster backward on CPU, more memory).

CUDA runs torch's own fused kernels (memory-efficient attention differentiates the mask).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

CHUNK_BYTES = 128 * 2**20  # logits of one chunk of windows (bigger batches: faster GEMMs)


def _chunks(q: Tensor):
    """(start, end) over the B * nW windows, ``CHUNK_BYTES`` of logits at a time."""
    step = max(1, CHUNK_BYTES // (q.shape[1] * q.shape[2] * q.shape[2] * q.element_size()))
    for s in range(0, q.shape[0], step):
        yield s, min(s + step, q.shape[0])


def _logits_term(bias: Tensor, mask: Optional[Tensor], start: int, end: int) -> Tensor:
    """Additive (n, nH, N, N) or (1, nH, N, N) logits term of windows ``start:end``."""
    if mask is None:
        return bias.unsqueeze(0)
    index = torch.arange(start, end, device=mask.device) % mask.shape[0]  # batch-major
    return bias.unsqueeze(0) + mask[index].unsqueeze(1)


def _forward_chunks(q: Tensor, k: Tensor, v: Tensor, bias: Tensor,
                    mask: Optional[Tensor]) -> Tensor:
    out = torch.empty_like(q)
    for s, e in _chunks(q):
        out[s:e] = F.scaled_dot_product_attention(q[s:e], k[s:e], v[s:e],
                                                  attn_mask=_logits_term(bias, mask, s, e))
    return out


class _ChunkedBiasAttention(torch.autograd.Function):
    """Fused forward, chunked recomputing backward; gradients for q, k, v and the bias."""

    @staticmethod
    def forward(ctx, q, k, v, bias, mask):
        out = _forward_chunks(q, k, v, bias, mask)
        ctx.save_for_backward(q, k, v, out, bias, mask)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, bias, mask = ctx.saved_tensors
        scale = q.shape[-1]**-0.5
        grad_q, grad_k, grad_v = (torch.empty_like(t) for t in (q, k, v))
        grad_bias = torch.zeros_like(bias)
        for s, e in _chunks(q):
            qc, kc, vc, do = q[s:e], k[s:e], v[s:e], grad_out[s:e]
            prob = (qc @ kc.transpose(-2, -1)).mul_(scale).add_(_logits_term(bias, mask, s, e))
            prob = prob.softmax(-1)
            grad_v[s:e] = prob.transpose(-2, -1) @ do
            # dS = P * (dP - rowsum(dO * O)), in place on dP
            grad_s = do @ vc.transpose(-2, -1)
            grad_s.sub_((do * out[s:e]).sum(-1, keepdim=True)).mul_(prob)
            del prob
            grad_bias += grad_s.sum(0)
            grad_q[s:e] = (grad_s @ kc).mul_(scale)
            grad_k[s:e] = (grad_s.transpose(-2, -1) @ qc).mul_(scale)
        return grad_q, grad_k, grad_v, grad_bias, None


def window_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor,
                     mask: Optional[Tensor] = None, dropout_p: float = 0.,
                     low_memory: bool = False) -> Tensor:
    """Attention inside windows with an additive bias shared by all windows.

    Args:
        q, k, v (Tensor): (B * nW, nH, N, hd), windows batch-major.
        bias (Tensor): (nH, N, N) relative position bias (may require grad).
        mask (Tensor, optional): (nW, N, N) additive shift mask, constant.
        dropout_p (float): Attention dropout (then the plain fused call is used).
        low_memory (bool): With gradients on CPU, recompute attention in backward a chunk at a
            time instead of keeping (B * nW, nH, N, N) probabilities: about 0.7x the peak
            memory of 3DSeg-L at 128^3 but a slower backward (see benchmarks/RESULTS.md).
            Without it, training uses torch's math kernel, which differentiates the bias.

    Returns:
        Tensor: (B * nW, nH, N, hd).
    """
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v, bias))
    if needs_grad and low_memory and dropout_p == 0 and q.device.type == 'cpu':
        return _ChunkedBiasAttention.apply(q, k, v, bias, mask)
    if needs_grad or dropout_p > 0 or q.device.type != 'cpu':
        full = bias.unsqueeze(0)
        if mask is not None:  # (nW, nH, N, N) repeated over the batch
            full = (full + mask.unsqueeze(1)).repeat(q.shape[0] // mask.shape[0], 1, 1, 1)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=full, dropout_p=dropout_p)
    return _forward_chunks(q, k, v, bias, mask)
