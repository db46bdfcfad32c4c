# Copyright (c) 3D Segmenter authors. All rights reserved.
"""mmengine's CheckpointHook with rotation that a crash cannot turn into data loss."""
import os
import os.path as osp
from contextlib import contextmanager

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

from ...checkpoint_schema import confine_runtime_paths
from ...fileio import is_inside, write_text_atomic


@HOOKS.register_module()
class CrashSafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose old checkpoints are deleted only after the new one is saved.

    mmengine removes the oldest checkpoint (``max_keep_ckpts``) and the previous best
    checkpoint (``save_best``) *before* it writes the new one, and rewrites
    ``last_checkpoint`` in place: with ``max_keep_ckpts=1``, a run killed during a save had no
    checkpoint left. Here every removal waits until the new file is complete (with the
    ``atomic_local`` backend the file appears whole or not at all), and ``last_checkpoint`` is
    replaced atomically, so at every moment it names a complete checkpoint.

    A resumed run never deletes outside its own folders: the paths a checkpoint's message hub
    carries (``best_ckpt``, ``last_ckpt``; a copied work dir still names the original's files)
    are rebased into this run's checkpoint folder or dropped before the hook reads them, and a
    removal outside that folder and the work dir is skipped. Arguments are those of
    :class:`mmengine.hooks.CheckpointHook`.
    """

    def _own_dirs(self, runner) -> list:
        """The checkpoint folder mmengine's ``before_train`` derives, and the work dir."""
        out_dir = self.out_dir or runner.work_dir
        if out_dir != runner.work_dir:
            out_dir = osp.join(out_dir, osp.basename(runner.work_dir.rstrip(osp.sep)))
        return [out_dir, runner.work_dir]

    def before_train(self, runner) -> None:
        self._roots = self._own_dirs(runner)
        for line in confine_runtime_paths(runner.message_hub.runtime_info, self._roots[0],
                                          self._roots):
            runner.logger.warning(f'resumed message hub: {line}')
        super().before_train(runner)
        self._roots = [self.out_dir, runner.work_dir]
        self._remove_stray_best(runner)

    def _remove_stray_best(self, runner) -> None:
        """A run killed between saving a new best checkpoint and deleting the previous one
        leaves a best checkpoint its resumed message hub does not know: once the hub names
        the current best, other files of the hook's best-checkpoint names go."""
        if self.save_best is None or not is_main_process() or not osp.isdir(self.out_dir):
            return
        recorded = ([self.best_ckpt_path] if len(self.key_indicators) == 1 else list(
            self.best_ckpt_path_dict.values()))
        recorded = {osp.realpath(p) for p in recorded if p}
        if not recorded:  # a new run: nothing is known to be the best yet
            return
        unit = 'epoch' if self.by_epoch else 'iter'
        for key in self.key_indicators:
            stem = f'best_{key}_{unit}_'.replace('/', '_')
            for name in sorted(os.listdir(self.out_dir)):
                path = osp.join(self.out_dir, name)
                if (name.startswith(stem) and name.endswith('.pth')
                        and name[len(stem):-len('.pth')].isdigit() and osp.isfile(path)
                        and not osp.islink(path) and osp.realpath(path) not in recorded):
                    os.remove(path)
                    runner.logger.warning(f'{path}: a best checkpoint left by an interrupted '
                                          'run (the resumed run records another); removed')

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
            if not is_inside(str(path), getattr(self, '_roots', [])):
                continue  # never outside this run's folders, whatever the hub said
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
