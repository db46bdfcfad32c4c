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


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state['cpu'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


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

    Validation is kept out of the training stream: its dataloader draws a seed from torch's
    generator each pass, so a run validated between a checkpoint and its end would otherwise
    differ from the same run resumed from that checkpoint. The state before each validation
    pass is put back after it.
    """
    priority = 'NORMAL'  # after_train_iter before the CheckpointHook (VERY_LOW) saves

    def __init__(self) -> None:
        self._last_iter_state: Optional[dict] = None
        self._state_to_restore: Optional[dict] = None
        self._before_val_state: Optional[dict] = None

    def before_val(self, runner) -> None:
        self._before_val_state = _rng_state()

    def after_val(self, runner) -> None:
        if self._before_val_state is not None:
            _set_rng_state(self._before_val_state)
            self._before_val_state = None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._last_iter_state = _rng_state()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['torch_rng_state'] = self._last_iter_state or _rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._state_to_restore = checkpoint.get('torch_rng_state')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._state_to_restore is None:
            return
        _set_rng_state(self._state_to_restore)
        self._state_to_restore = None
