# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Softmax cross entropy over dense voxel logits, a chunk of voxels at a time.

``F.cross_entropy`` on (B, K, D, H, W) logits keeps the (B, K, D, H, W) log-probabilities for
backward and makes two more tensors of that size in backward (the one-hot gradient of the
negative log-likelihood, then the log-softmax gradient): three times the logits, 750 MB for 30
classes at 128^3, the largest memory cost of a 3D Segmenter training step. Here the forward
keeps one log-sum-exp per voxel and the backward writes the gradient ``softmax - onehot`` once,
chunk by chunk, while the chunk is in cache.
"""
from typing import Optional, Sequence

import torch
from mmseg.registry import MODELS
from torch import Tensor

from .named_loss import NamedLoss

CHUNK_BYTES = 4 * 2**20  # logits of one chunk of voxels


def _chunks(logits: Tensor):
    """(b, voxel slice) over (B, K, V) logits, ``CHUNK_BYTES`` of logits at a time."""
    B, K, V = logits.shape
    step = max(1, CHUNK_BYTES // (K * logits.element_size()))
    for b in range(B):
        for s in range(0, V, step):
            yield b, slice(s, s + step)


def _check_reduction(reduction: str) -> str:
    if reduction not in ('mean', 'sum'):
        raise ValueError(f"ChunkedCrossEntropyLoss: reduction must be 'mean' or 'sum', got "
                         f'{reduction!r}')
    return reduction


class _ChunkedSoftmaxCrossEntropy(torch.autograd.Function):
    """``sum_v scale_v * (logsumexp(x_v) - x_v[t_v])`` over (B, K, V) logits."""

    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor, scale: Tensor) -> Tensor:
        acc = torch.promote_types(logits.dtype, torch.float32)  # half logits: float32 sums
        lse = logits.new_empty((logits.shape[0], logits.shape[2]), dtype=acc)
        total = logits.new_zeros((), dtype=acc)
        for b, v in _chunks(logits):
            x = logits[b, :, v].to(acc)  # (K, v)
            top = x.amax(0)
            chunk_lse = (x - top).exp_().sum(0).log_().add_(top)
            lse[b, v] = chunk_lse
            picked = x.gather(0, target[b, v].unsqueeze(0))[0]
            total += ((chunk_lse - picked) * scale[b, v]).sum()
        ctx.save_for_backward(logits, target, scale, lse)
        return total

    @staticmethod
    def backward(ctx, grad: Tensor):
        logits, target, scale, lse = ctx.saved_tensors
        grad_logits = torch.empty_like(logits)
        for b, v in _chunks(logits):
            w = scale[b, v] * grad  # (v,)
            g = (logits[b, :, v].to(lse.dtype) - lse[b, v]).exp_().mul_(w)
            g.scatter_add_(0, target[b, v].unsqueeze(0), -w.unsqueeze(0))
            grad_logits[b, :, v] = g
        return grad_logits, None, None


@MODELS.register_module()
class ChunkedCrossEntropyLoss(NamedLoss):
    """Softmax cross entropy with mmseg's ``CrossEntropyLoss`` interface, computed a chunk of
    voxels at a time (memory of one gradient-sized tensor instead of three).

    The value and gradient are those of ``F.cross_entropy``: per voxel
    ``class_weight[t] * weight * -log softmax(x)[t]``, ignored voxels contribute nothing, and
    ``reduction='mean'`` divides by ``avg_factor`` when given, else by the number of
    non-ignored voxels (weighted by their class weights) with ``avg_non_ignore=True``, or by all
    voxels with ``avg_non_ignore=False`` (mmseg's default).

    Args:
        use_sigmoid (bool): Must be False (softmax only). Defaults to False.
        class_weight (Sequence[float], optional): Weight per class. Defaults to None.
        reduction (str): ``'mean'`` or ``'sum'``. Defaults to 'mean'.
        loss_weight (float): Defaults to 1.0.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_ce'``.
        avg_non_ignore (bool): Average over non-ignored voxels only. Defaults to False.
    """

    def __init__(self,
                 use_sigmoid: bool = False,
                 class_weight: Optional[Sequence[float]] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce',
                 avg_non_ignore: bool = False) -> None:
        super().__init__(loss_weight, loss_name)
        if use_sigmoid:
            raise ValueError('ChunkedCrossEntropyLoss: use_sigmoid=True is not supported; use '
                             "mmseg's CrossEntropyLoss for sigmoid cross entropy")
        self.reduction = _check_reduction(reduction)
        self.class_weight = None if class_weight is None else list(class_weight)
        self.avg_non_ignore = avg_non_ignore

    def forward(self, cls_score: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None, reduction_override: Optional[str] = None,
                ignore_index: int = -100, **kwargs) -> Tensor:
        """
        Args:
            cls_score (Tensor): Logits (B, K, ...).
            label (Tensor): Integer labels (B, ...).
            weight (Tensor, optional): Per-voxel weights (B, ...). Defaults to None.
            avg_factor (float, optional): Divisor of the mean. Defaults to None.
            reduction_override (str, optional): ``'mean'`` or ``'sum'``. Defaults to None.
            ignore_index (int): Label of voxels that do not count. Defaults to -100.

        Returns:
            Tensor: Scalar loss.
        """
        reduction = _check_reduction(reduction_override or self.reduction)
        B, K = cls_score.shape[:2]
        if label.shape != (B, ) + cls_score.shape[2:]:
            raise ValueError(f'ChunkedCrossEntropyLoss: labels {tuple(label.shape)} do not match '
                             f'logits {tuple(cls_score.shape)}')
        label = label.reshape(B, -1).long()
        keep = label != ignore_index
        if ((label < 0) | (label >= K))[keep].any():
            bad = label[keep & ((label < 0) | (label >= K))].unique()[:5].tolist()
            raise ValueError(f'ChunkedCrossEntropyLoss: labels {bad} are outside 0..{K - 1} '
                             f'and not ignore_index ({ignore_index})')
        target = label.where(keep, torch.zeros_like(label))
        scale = keep.to(torch.promote_types(cls_score.dtype, torch.float32))
        if self.class_weight is not None:
            scale = scale * scale.new_tensor(self.class_weight)[target]
        if reduction == 'mean' and avg_factor is None:
            avg_factor = scale.sum() if self.avg_non_ignore else label.numel()
        if weight is not None:
            scale = scale * weight.reshape(B, -1).to(scale.dtype)
        if reduction == 'mean':  # mmseg adds eps: no voxel left gives 0, not NaN
            scale = scale / (avg_factor + torch.finfo(torch.float32).eps)
        logits = cls_score.reshape(B, K, -1)
        # float32 (or float64) whatever the logits' precision, as F.cross_entropy under autocast
        return self.loss_weight * _ChunkedSoftmaxCrossEntropy.apply(logits, target, scale)
