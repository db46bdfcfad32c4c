# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The contract mmseg's decode heads and segmentors expect of a loss module."""
import torch.nn as nn


class NamedLoss(nn.Module):
    """A loss with a ``loss_weight`` and a ``loss_name``: the key of its term in the loss dict.

    mmseg reads ``loss_name`` to file each term (a name starting with ``loss_`` is summed into
    the total loss; any other is only logged).

    Args:
        loss_weight (float): Factor on the loss.
        loss_name (str): Key in the loss dict.
    """

    def __init__(self, loss_weight: float, loss_name: str) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name
