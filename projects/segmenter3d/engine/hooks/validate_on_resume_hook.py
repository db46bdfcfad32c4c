# Copyright (c) 3D Segmenter authors. All rights reserved.
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class ValidateOnResumeHook(Hook):
    """Validate a resumed iteration-based run at the iteration it resumes from, when that
    iteration is a validation point.

    The Runner saves the checkpoint of a validation iteration *before* it validates, and a
    resumed run starts at the next iteration: a run stopped while validating (or between the
    checkpoint and the validation) would never validate that iteration, and a run stopped in
    its last validation would end without one. Validating again at a resume whose previous
    segment did finish that validation gives the same metrics (evaluation is deterministic
    and :class:`RNGStateHook` keeps it out of the training stream), so the learning curve and
    the best checkpoint come out as in an uninterrupted run, at the cost of one validation.
    """
    # after every other hook's before_train: the CheckpointHook (VERY_LOW) sets up its file
    # backend there, and the validation saves the best checkpoint through it
    priority = 'LOWEST'

    def before_train(self, runner) -> None:
        loop, it = runner.train_loop, runner.iter
        if it == 0 or runner.val_loop is None or it < getattr(loop, 'val_begin', 1):
            return
        interval = getattr(loop, 'val_interval', None)
        if not interval:
            return
        if it % interval == 0 or it == getattr(loop, 'max_iters', None):
            runner.logger.info(f'resumed at iteration {it}, a validation point: validating '
                               'it (the checkpoint is saved before the validation)')
            runner.val_loop.run()
