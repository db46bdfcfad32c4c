# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Knowledge distillation from a 2D panorama segmenter into projected 3D logits."""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from .named_loss import NamedLoss


@MODELS.register_module()
class PanoramicKDLoss(NamedLoss):
    """``tau^2 * KL(softmax(teacher / tau) || softmax(student / tau))`` over valid pixels
    (rays that hit a surface), reduced as the official code reduces it.

    The official loss is ``kl_div(log_s, p_t, reduction='sum') * tau^2 / numel`` with
    ``numel = K * H * W``: the per-pixel KL (summed over classes) averaged over pixels and
    divided by the class count K. With ``class_mean=True`` (the default) this loss is exactly
    that, over the valid pixels only; ``class_mean=False`` drops the 1 / K (a KD term K times
    heavier relative to cross entropy, what this project used before).

    ``min_confidence`` keeps only the pixels whose teacher is confident: its top softmax
    probability (at temperature 1, whatever ``tau``) must reach the threshold, and the KL is
    averaged over the pixels kept. The official loss has no such gate (0, the default); it is
    for a teacher that is no better than the student on average but is right where it is sure.

    ``class_balanced`` weights the pixels so that every class the teacher predicts among the
    kept pixels counts equally: the mean KL of each such class, averaged over the classes. A
    room's hits are mostly wall, floor and ceiling, where a 3D student already agrees with the
    teacher; what the teacher knows that the student does not sits on the few hits of doors,
    art or sofas, which a plain pixel mean drowns (not in the official code).

    Computed in float32 whatever the input dtype (log-softmax, so large logits and small
    probabilities stay finite in float16 too).

    Args:
        tau (float): Temperature. Defaults to 20 (the paper's).
        loss_weight (float): Defaults to 1.0.
        class_mean (bool): Divide by the class count, as the official code. Defaults to True.
        min_confidence (float): Teacher top-class probability a pixel needs, in [0, 1).
            Defaults to 0 (every valid pixel, as the official code).
        class_balanced (bool): Average the KL per teacher class first, then over classes.
            Defaults to False (a mean over pixels, as the official code).
        loss_name (str): Key in the loss dict. Defaults to ``'loss_dist'``.
    """

    def __init__(self, tau: float = 20.0, loss_weight: float = 1.0, class_mean: bool = True,
                 min_confidence: float = 0.0, class_balanced: bool = False,
                 loss_name: str = 'loss_dist') -> None:
        super().__init__(loss_weight, loss_name)
        if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau > 0):  # not nan
            raise ValueError(f'PanoramicKDLoss: tau must be a positive finite number, got {tau}')
        if not 0 <= min_confidence < 1:
            raise ValueError(f'PanoramicKDLoss: min_confidence must be in [0, 1), got '
                             f'{min_confidence}')
        self.tau = tau
        self.class_mean = class_mean
        self.min_confidence = min_confidence
        self.class_balanced = class_balanced

    def forward(self, student: Tensor, teacher: Tensor, valid: Optional[Tensor] = None,
                weight: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            student (Tensor): Student logits, (N, K, H, W), (K, H, W), or (P, K) rows of
                pixels (or of voxels).
            teacher (Tensor): Teacher logits of the same shape (no gradient is taken).
            valid (Tensor, optional): Bool mask (N, H, W), (H, W) or (P, ); all pixels when
                None.
            weight (Tensor, optional): Non-negative weight of each pixel, shaped as ``valid``:
                the mean becomes a weighted mean (class sizes weighted sums with
                ``class_balanced``). Defaults to None (every pixel 1).

        Returns:
            Tensor: Scalar loss; 0 (with a gradient path) when no pixel is valid.
        """
        if student.shape != teacher.shape:
            raise ValueError(f'PanoramicKDLoss: student {tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)} logits differ in shape')
        if weight is not None:
            # the logits' shape without the class axis
            pixels = student.shape[:1] if student.dim() == 2 else (student.shape[:-3] +
                                                                   student.shape[-2:])
            if weight.shape != pixels:
                raise ValueError(f'PanoramicKDLoss: weight {tuple(weight.shape)} does not match '
                                 f'the pixels {tuple(pixels)} of the logits')
            if bool((weight < 0).any()):
                raise ValueError('PanoramicKDLoss: weight must be non-negative')
        if student.dim() == 2:  # (P, K) rows: classes on dim 1 already
            student, teacher = student.t()[None, :, :, None], teacher.t()[None, :, :, None]
            valid = valid[None, :, None] if valid is not None else None
            weight = weight[None, :, None] if weight is not None else None
        elif student.dim() == 3:
            student, teacher = student[None], teacher[None]
            valid = valid[None] if valid is not None else None
            weight = weight[None] if weight is not None else None
        log_s = F.log_softmax(student.float() / self.tau, dim=1)
        teacher = teacher.detach().float()
        log_t = F.log_softmax(teacher / self.tau, dim=1)
        kl = (log_t.exp() * (log_t - log_s)).sum(dim=1)  # (N, H, W)
        if valid is None:
            valid = torch.ones_like(kl, dtype=torch.bool)
        if valid.shape != kl.shape:
            raise ValueError(f'PanoramicKDLoss: mask {tuple(valid.shape)} does not match the '
                             f'logits {tuple(kl.shape)}')
        if self.min_confidence > 0:
            top = teacher.softmax(dim=1).amax(dim=1)
            valid = valid & (top >= self.min_confidence)
        if weight is None:
            weight = valid.float()
        weight = torch.where(valid, weight.float(), torch.zeros_like(kl))
        kl = kl * weight
        if self.class_balanced:
            # 1 / (kept weight of the class * classes present): sums to 1 over the kept
            # pixels (a dropped pixel's KL is already 0)
            label = teacher.argmax(dim=1)
            counts = torch.bincount(label[valid], weights=weight[valid],
                                    minlength=teacher.shape[1])
            present = (counts > 0).sum().clamp(min=1)
            loss = (kl / (counts.clamp(min=1e-12) * present)[label]).sum()
        else:
            loss = kl.sum() / weight.sum().clamp(min=1e-12)
        if self.class_mean:
            loss = loss / student.shape[1]
        return self.loss_weight * self.tau**2 * loss
