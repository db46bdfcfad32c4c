# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Train a segmentor with the mmengine Runner (mmseg v1.x conventions)."""
import argparse
import logging
import os.path as osp

from mmengine.logging import print_log
from mmengine.runner import Runner

from segmenter3d.checkpoint_io import read_state_dict, weight_mismatches
from segmenter3d.engine import runtime
from segmenter3d.engine.option_checks import check_datasets, check_train_schedule
from segmenter3d.engine.work_dir import guard_work_dir, lock_work_dir
from segmenter3d.fileio import is_inside


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--resume', action='store_true', default=False,
                        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument('--overwrite', action='store_true',
                        help='start a new run in a work_dir that already holds one')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic-mixed-precision training')
    runtime.add_runner_arguments(parser)
    return runtime.parse_runner_arguments(parser, argv)


def check_resume(runner: Runner) -> None:
    """``--resume`` continues the same model: a checkpoint of another variant or class count
    (mmengine would load it non-strictly and train half-random weights) is refused."""
    from mmengine.runner import find_latest_checkpoint
    path = runner.cfg.get('load_from') or find_latest_checkpoint(runner.work_dir)
    if not path:
        return
    _, state = read_state_dict(path, 'checkpoint to resume')
    problems = weight_mismatches(getattr(runner.model, 'module', runner.model), state)
    if problems:
        raise ValueError(f'{path}: --resume with a checkpoint of another model (another '
                         f'variant or class count?): ' + '; '.join(problems))


def check_load_from(runner: Runner) -> None:
    """``load_from`` must be readable and share weights with the model. Partial fits are
    allowed (fine-tuning to another class count is legitimate) but listed."""
    path = runner.cfg.get('load_from')
    if runner.cfg.get('resume'):
        check_resume(runner)
        return
    if not path:
        return
    _, state = read_state_dict(path, 'load_from checkpoint')
    model = getattr(runner.model, 'module', runner.model)
    own = model.state_dict()
    if not any(k in own and own[k].shape == v.shape for k, v in state.items()):
        raise ValueError(f'{path}: load_from shares no weight with {type(model).__name__}')
    for problem in weight_mismatches(model, state):
        print_log(f'load_from {path}: {problem}', logger='current', level=logging.WARNING)


def build_runner(args) -> Runner:
    """The Runner of the config and options, after checking what can be checked up front."""
    cfg = runtime.load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.amp:
        if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in your config.', logger='current',
                      level=logging.WARNING)
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    cfg.resume = args.resume
    if args.resume and cfg.get('load_from') and osp.isfile(
            osp.join(cfg.work_dir, 'last_checkpoint')) and not is_inside(
                cfg.load_from, [cfg.work_dir]):
        # mmengine resumes from load_from when it is set; here it is the weights the run
        # started from (a fine-tuning's student), and the run to continue is the work dir's
        # (a checkpoint in the work dir is an earlier point of this run: resumed from)
        print_log(f'--resume: continuing the run in {cfg.work_dir}; load_from '
                  f'{cfg.load_from} (the weights it started from) is not resumed',
                  logger='current', level=logging.WARNING)
        cfg.load_from = None
    check_train_schedule(cfg)
    guard_work_dir(cfg.work_dir, args.resume, args.overwrite)
    check_datasets(cfg, ['train', 'val'] if cfg.get('val_cfg') else ['train'])
    lock_work_dir(cfg.work_dir)  # a concurrent run may not have saved anything yet
    guard_work_dir(cfg.work_dir, args.resume, args.overwrite)  # or it saved meanwhile
    runner = runtime.runner_from_cfg(cfg, args.config)
    check_load_from(runner)
    return runner


if __name__ == '__main__':
    runtime.run_tool(build_runner, parse_args, 'train')
