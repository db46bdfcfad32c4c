# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Stop a training run on SIGTERM with a checkpoint of the last finished iteration."""
import multiprocessing
import os
import signal
import threading
import time
import weakref
from typing import Dict, Optional, Sequence

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import CheckpointHook, Hook
from mmengine.runner import EpochBasedTrainLoop
from mmseg.registry import HOOKS


@HOOKS.register_module()
class SaveOnStopHook(Hook):
    """On a stop signal, finish the current training iteration (epoch, in an epoch-based
    loop), save it as the run's CheckpointHook would, and end the run with exit status
    ``128 + signal``.

    Schedulers and sessions that end stop jobs with SIGTERM; without this hook the work since
    the last periodic checkpoint is lost, which for a long schedule that checkpoints rarely
    (a teacher saving every 8 000 iterations) is all of it. ``tools/train.py --resume``
    continues from the saved iteration exactly (:class:`RNGStateHook` carries the random state;
    the Runner replays the consumed batches). A second signal stops the process at once; one
    within :attr:`repeat_seconds` of the first is the same stop delivered twice (a signal to
    a process group reaches a tool both directly and through the parent that started it and
    forwards it). With several processes, each iteration agrees on whether any rank was
    signalled, so all ranks stop at the same iteration. Dataloader workers do not die of a
    signal sent to the whole process group (it would fail the iteration or the save).

    Args:
        signals (Sequence[str]): Names of the signals that stop the run.
    """
    priority = 'LOWEST'  # after the CheckpointHook: a periodic save at the same iteration wins
    repeat_seconds = 5.0

    def __init__(self, signals: Sequence[str] = ('SIGTERM', )) -> None:
        for name in signals:
            if not isinstance(getattr(signal, name, None), signal.Signals):
                raise ValueError(f'SaveOnStopHook: signals: {name!r} is not a signal name')
        self.signals = [getattr(signal, name) for name in signals]
        self.received: Optional[int] = None
        self._received_at = 0.0
        self._previous: Dict[int, object] = {}
        self._shielded = weakref.WeakSet()  # the worker processes moved

    def _handle(self, signum, frame) -> None:
        if self.received is None:
            self.received, self._received_at = signum, time.monotonic()
        elif time.monotonic() - self._received_at > self.repeat_seconds:
            self._restore()  # a second stop takes the default (or the earlier) action
            signal.raise_signal(signum)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def before_train(self, runner) -> None:
        self.received = None
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('SaveOnStopHook: not the main thread, no signal is caught')
            return
        self._previous = {s: signal.signal(s, self._handle) for s in self.signals}
        self._shielded = weakref.WeakSet()
        self._shield_workers(runner)

    def _shield_workers(self, runner) -> None:
        """Move the dataloader workers running (forked by the train loop when it was built,
        before ``before_train``, or by a validation since) into process groups of their own:
        a signal sent to this process's group (``kill -TERM -<pgid>``, a session's end) would
        kill them (torch's workers die of any SIGTERM not from their parent) and fail the
        iteration or the save. They still end with this process (their watchdog) and at its
        normal shutdown."""
        for child in multiprocessing.active_children():
            if not child.daemon or child in self._shielded:  # workers are daemonic
                continue
            self._shielded.add(child)  # (a pid may come again, an epoch loop's workers)
            try:
                os.setpgid(child.pid, 0)
            except OSError as err:  # not forked by us (spawn, forkserver), or gone
                runner.logger.warning(f'SaveOnStopHook: dataloader worker {child.pid} stays '
                                      f'in the process group ({err}): a signal to the whole '
                                      'group stops it')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._previous:  # an epoch-based loop forks workers at each epoch's start
            self._shield_workers(runner)

    def before_val_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._previous and batch_idx == 0:  # a validation forks its workers
            self._shield_workers(runner)

    def _any_rank_stopped(self) -> bool:
        flag = torch.tensor([0 if self.received is None else int(self.received)])
        all_reduce(flag, op='max')  # no-op in a single process
        if flag.item() and self.received is None:
            self.received = int(flag.item())
        return bool(flag.item())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            self._stop(runner, 'iteration', runner.iter + 1)  # the loop counts it after us

    def after_train_epoch(self, runner) -> None:
        # an epoch-based loop stops only between epochs and saves whole epochs (a mid-epoch
        # checkpoint resumes at the next one): the epoch running is finished, then saved
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            self._stop(runner, 'epoch', runner.epoch + 1)

    def _stop(self, runner, unit: str, done: int) -> None:
        """Save (unless the CheckpointHook just saved ``done``) and end the loop, when any
        rank was signalled; ``done``: the iterations or epochs finished."""
        if not self._any_rank_stopped():
            return
        hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
        last = runner.message_hub.get_info('last_ckpt') or ''
        if hooks and not last.endswith(hooks[0].filename_tmpl.format(done)):
            hooks[0]._save_checkpoint(runner)
        runner.logger.info(f'{signal.Signals(self.received).name} received: stopped after '
                           f'{unit} {done}' + (', checkpoint saved; --resume continues '
                                               'from it' if hooks else ''))
        runner.train_loop.stop_training = True
        if unit == 'iteration':
            # the loop would validate this iteration before it stops, making the stop wait
            # for a whole validation; the resumed run validates it (ValidateOnResumeHook)
            runner.train_loop.val_begin = runner.train_loop.max_iters + 1

    def after_run(self, runner) -> None:
        self._restore()
        if self.received is not None:
            raise SystemExit(128 + int(self.received))
