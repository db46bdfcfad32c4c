# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Carry torch's random state through checkpoints so that ``--resume`` continues exactly."""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


def _rng_state() -> dict:
    state = dict(cpu=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save torch's CPU (and CUDA) generator state with every checkpoint and put it back at the
    first training iteration after a resume.

    The Runner re-seeds on start and then replays the batches a resumed run already consumed,
    which redraws the numpy augmentations exactly; what it cannot replay is the torch draws of
    the forward passes (stochastic depth, dropout). The state saved is the one at the end of the
    last finished iteration (hooks that run at the end of training may draw more before the
    last checkpoint is written), and it is restored right before the first new iteration,
    after the replay, which draws no torch numbers.
    """
    priority = 'NORMAL'  # after_train_iter before the CheckpointHook (VERY_LOW) saves

    def __init__(self) -> None:
        self._last_iter_state: Optional[dict] = None
        self._state_to_restore: Optional[dict] = None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._last_iter_state = _rng_state()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['torch_rng_state'] = self._last_iter_state or _rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._state_to_restore = checkpoint.get('torch_rng_state')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._state_to_restore is None:
            return
        torch.set_rng_state(self._state_to_restore['cpu'])
        if 'cuda' in self._state_to_restore and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self._state_to_restore['cuda'])
        self._state_to_restore = None
