# Copyright (c) 3D Segmenter authors. All rights reserved.
"""mmengine's CheckpointHook with rotation that a crash cannot turn into data loss."""
import os.path as osp
from contextlib import contextmanager

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

from ...fileio import write_text_atomic


@HOOKS.register_module()
class CrashSafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose old checkpoints are deleted only after the new one is saved.

    mmengine removes the oldest checkpoint (``max_keep_ckpts``) and the previous best
    checkpoint (``save_best``) *before* it writes the new one, and rewrites
    ``last_checkpoint`` in place: with ``max_keep_ckpts=1``, a run killed during a save had no
    checkpoint left. Here every removal waits until the new file is complete (with the
    ``atomic_local`` backend the file appears whole or not at all), and ``last_checkpoint`` is
    replaced atomically, so at every moment it names a complete checkpoint. Arguments are
    those of :class:`mmengine.hooks.CheckpointHook`.
    """

    @contextmanager
    def _removals_deferred(self):
        """Collect the backend's removals while the body runs; carry them out after it."""
        pending = []
        backend = self.file_backend
        remove, rmtree = backend.remove, backend.rmtree
        backend.remove = pending.append
        backend.rmtree = pending.append
        try:
            yield
        finally:
            backend.remove, backend.rmtree = remove, rmtree
        for path in pending:  # reached only when the body (the new save) finished
            if backend.isfile(path):
                remove(path)
            elif backend.isdir(path):
                rmtree(path)

    def _save_checkpoint_with_step(self, runner, step, meta):
        """mmengine's rotation, reordered: save, point ``last_checkpoint`` at the new file
        (one atomic rename), and only then delete the checkpoint that fell out."""
        stale = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, filename, self.file_client_args, save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
            backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        write_text_atomic(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        if stale is not None and stale != step:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(stale))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed saves folders
                self.file_backend.rmtree(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        with self._removals_deferred():
            super()._save_best_checkpoint(runner, metrics)
