# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Test (evaluate) a checkpoint with the mmengine Runner (mmseg v1.x conventions)."""
import argparse
import os
import os.path as osp

from mmengine.config import Config
from mmengine.runner import Runner

from segmenter3d.checkpoint_io import load_weights
from segmenter3d.engine import runtime
from segmenter3d.engine.option_checks import check_datasets


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument('--out', help='dump predictions (label volumes, .npz) to this dir')
    parser.add_argument('--show-dir', help='write PNG slices and panoramas of predictions '
                        'next to the ground truth into this dir')
    runtime.add_runner_arguments(parser)
    return runtime.parse_runner_arguments(parser, argv)


def check_output_dirs(cfg: Config, dirs: dict) -> None:
    """Predictions and logs never go where the run's inputs are: refuse output folders
    inside a data root of the run's dataloaders (the rooms, panoramas and split files live
    there)."""
    roots = []
    for split in ('train', 'val', 'test'):
        dataset = (cfg.get(f'{split}_dataloader') or {}).get('dataset') or {}
        if dataset.get('data_root'):
            roots.append(osp.realpath(dataset['data_root']))
    for option, folder in dirs.items():
        if not folder:
            continue
        real = osp.realpath(folder)
        for root in roots:
            if real == root or real.startswith(root + os.sep):
                raise ValueError(f'--{option.replace("_", "-")} {folder}: inside the data root '
                                 f'{root}, which holds the inputs; write outputs elsewhere')


def build_runner(args) -> Runner:
    """The Runner of the config and options, after checking what can be checked up front."""
    cfg = runtime.load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from = args.checkpoint
    for option in ('out', 'show_dir'):
        if getattr(args, option) is not None:
            runtime.check_output_folder(getattr(args, option), f'--{option.replace("_", "-")}')
    check_output_dirs(cfg, dict(out=args.out, show_dir=args.show_dir, work_dir=args.work_dir))
    if args.show_dir or args.out:
        # as mmseg's tools/test.py: switch the config's visualization hook on
        hook = cfg.default_hooks.get('visualization') or dict(type='VolumeVisualizationHook')
        if hook.get('type') != 'VolumeVisualizationHook':
            raise ValueError(f"default_hooks.visualization is {hook.get('type')!r}; --out and "
                             f'--show-dir need VolumeVisualizationHook')
        hook.update(draw=bool(args.show_dir), show_dir=args.show_dir, out_dir=args.out)
        cfg.default_hooks.visualization = hook
    check_datasets(cfg, ['test'])
    if not osp.isfile(args.checkpoint):  # before the Runner makes a log folder for nothing
        raise FileNotFoundError(f'{args.checkpoint}: checkpoint not found' if not osp.lexists(
            args.checkpoint) else f'{args.checkpoint}: not a regular file')
    runner = runtime.runner_from_cfg(cfg, args.config)
    # the Runner loads non-strictly: a checkpoint of another variant would be tested half random
    load_weights(getattr(runner.model, 'module', runner.model), args.checkpoint)
    return runner


if __name__ == '__main__':
    runtime.run_tool(build_runner, parse_args, 'test')
