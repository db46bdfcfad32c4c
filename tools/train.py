# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Train a segmentor with the mmengine Runner (mmseg v1.x conventions)."""
import argparse
import logging
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

from segmenter3d.checkpoint_io import read_state_dict, weight_mismatches
from segmenter3d.engine.runtime import (
    check_cfg_options,
    check_train_schedule,
    guard_work_dir,
    lock_work_dir,
    setup_cpu_distributed,
)


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
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, key=value (xxx=yyy format)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torchrun passes --local-rank; older launchers --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def check_load_from(runner: Runner) -> None:
    """``load_from`` must be readable and share weights with the model. Partial fits are
    allowed (fine-tuning to another class count is legitimate) but listed."""
    path = runner.cfg.get('load_from')
    if not path or runner.cfg.get('resume'):
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
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        check_cfg_options(cfg, args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    # work_dir priority: CLI > config > config file name
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in your config.', logger='current',
                      level=logging.WARNING)
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    cfg.resume = args.resume
    check_train_schedule(cfg)
    guard_work_dir(cfg.work_dir, args.resume, args.overwrite)
    lock_work_dir(cfg.work_dir)  # a concurrent run may not have saved anything yet
    guard_work_dir(cfg.work_dir, args.resume, args.overwrite)  # or it saved meanwhile
    setup_cpu_distributed(cfg)
    try:
        runner = Runner.from_cfg(cfg)
    except KeyError as err:  # a registry type typo: mmengine's message, one line
        raise ValueError(f'{args.config}: {err.args[0] if err.args else err}') from None
    check_load_from(runner)
    return runner


if __name__ == '__main__':
    try:
        runner = build_runner(parse_args())
    except (ValueError, FileNotFoundError) as err:  # bad input: one line, not a stack trace
        sys.exit(f'error: {err}')
    runner.train()
