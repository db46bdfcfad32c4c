# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The command-line glue of tools/train.py and tools/test.py: the config of a run, the Runner,
the shared arguments, and the entry point that turns bad input into one ``error:`` line.
The jobs it calls live beside it: :mod:`.launch` (CPU distributed set-up),
:mod:`.option_checks` (``--cfg-options``, schedule, datasets) and :mod:`.work_dir` (guard,
lock, cleanup)."""
import argparse
import os
import os.path as osp
import sys

import torch.distributed as dist
from mmengine.config import Config, DictAction

from ..checkpoint_io import use_safe_checkpoint_loading
from .launch import setup_cpu_distributed
from .option_checks import check_cfg_options


def load_config(config: str, cfg_options=None, work_dir=None, launcher: str = 'none') -> Config:
    """The config of a tool run: options checked then merged, the launcher recorded, and the
    work dir by mmseg's priority (command line > config > ``work_dirs/<config name>``)."""
    try:
        cfg = Config.fromfile(config)
    except (ValueError, FileNotFoundError):
        raise
    except Exception as err:  # a config is Python: its syntax and its own errors alike
        raise ValueError(f'{config}: not a usable config ({type(err).__name__}: '
                         f'{one_line(err)})') from None
    cfg.launcher = launcher
    if cfg_options is not None:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        check_output_folder(work_dir, '--work-dir')
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def check_output_folder(folder: str, option: str) -> None:
    """A folder option that can be made and written: not empty (``''`` would write into the
    current directory), no file in the way, a name the file system takes.

    Raises:
        ValueError: naming the option.
    """
    from ..fileio import check_writable
    if not folder:
        raise ValueError(f'{option} is empty; name a folder')
    check_writable(folder, f'{option} {folder}', folder=True)
    if any(len(part.encode()) > 255 for part in folder.split(os.sep)):
        raise ValueError(f'{option} {folder[:60]}...: a folder name over 255 bytes')


class CheckedDictAction(DictAction):
    """mmengine's ``DictAction`` whose malformed pairs are argparse errors naming the option
    (it raised a ``ValueError`` from inside argparse: a stack trace)."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            super().__call__(parser, namespace, values, option_string)
        except (ValueError, TypeError) as err:
            raise argparse.ArgumentError(self, f'{" ".join(values)}: key=value pairs, '
                                         f'as in model.decode_head.num_classes=20 ({err})')


def runner_from_cfg(cfg: Config, config: str):
    """``Runner.from_cfg`` after the CPU distributed set-up; a registry type typo becomes a
    one-line ``ValueError`` naming the config."""
    from mmengine.runner import Runner
    setup_cpu_distributed(cfg)
    try:
        return Runner.from_cfg(cfg)
    except KeyError as err:  # mmengine's "X is not in the mmseg::model registry" message
        raise ValueError(f'{config}: {err.args[0] if err.args else err}') from None


def add_runner_arguments(parser) -> None:
    """``--cfg-options``, ``--launcher`` and both spellings of the local rank (torchrun passes
    ``--local-rank``, older launchers ``--local_rank``), as mmseg's tools take them."""
    parser.add_argument('--cfg-options', nargs='+', action=CheckedDictAction,
                        help='override settings in the config, key=value (xxx=yyy format)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--debug', action='store_true',
                        help='show the stack trace of an error instead of one line')


def parse_runner_arguments(parser, argv=None):
    """Parse, and export ``LOCAL_RANK`` for mmengine when the launcher did not."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def one_line(err: BaseException) -> str:
    """The message of an error, on one line. A data loader worker's error arrives as
    "Caught ValueError in DataLoader worker process 0" with the worker's traceback in the
    message: its last line is the error itself."""
    text = str(err).strip()
    if 'Original Traceback' in text:
        text = text.splitlines()[-1]
        for name in ('ValueError: ', 'FileNotFoundError: '):
            if text.startswith(name):
                text = text[len(name):]
    return ' '.join(text.splitlines()) or type(err).__name__


def report_failures(failed, heading: str) -> int:
    """Exit code of a batch tool that goes on past bad items: 1 after printing ``heading``
    and each failed item's message (one ``error:`` line each) to stderr, 0 when none failed."""
    if not failed:
        return 0
    print(f'error: {heading}:', file=sys.stderr)
    for message in failed:
        print(f'error: {message}', file=sys.stderr)
    return 1


def report_bad_input(main, argv=None) -> int:
    """``main(argv)`` of a tool without a Runner, where bad input (``ValueError``,
    ``OSError``) ends in one ``error:`` line and exit code 1."""
    try:
        return main(argv)
    except (ValueError, OSError) as err:
        print(f'error: {one_line(err)}', file=sys.stderr)
        return 1


def run_tool(build_runner, parse_args, action: str) -> None:
    """A tool's entry point: build the Runner and run ``runner.<action>()``, where bad input
    (``ValueError`` / ``FileNotFoundError``, at build time or raised by a validator inside
    the loop) ends in one ``error:`` line, not a stack trace (``--debug`` shows it); a
    distributed run's ranks meet at a barrier and tear their process group down before exit
    (a rank that tears gloo down while another still works, e.g. rank 0 writing the best
    checkpoint, or leaves it to the interpreter's shutdown, can abort with "terminate called
    without an active exception")."""

    args = parse_args()
    use_safe_checkpoint_loading()  # every checkpoint this tool reads is untrusted
    try:
        runner = build_runner(args)
        # bad input found while the loop runs (a room, an init_cfg checkpoint, the data loader
        # settings) is the same one-line error as at build time
        getattr(runner, action)()
    except (ValueError, OSError) as err:  # OSError: an output the system refuses
        if getattr(args, 'debug', False):
            raise
        sys.exit(f'error: {one_line(err)}')
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
