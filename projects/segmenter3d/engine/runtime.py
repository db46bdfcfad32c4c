# Copyright (c) 3D Segmenter authors. All rights reserved.
"""What tools/train.py and tools/test.py check and set up before the Runner starts:
CPU-only distributed launch, ``--cfg-options`` validation, and the work dir (a guard against
writing over another run, a lock against two concurrent runs, orphan cleanup)."""
import difflib
import errno
import fcntl
import inspect
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.config import Config

from ..checkpoint_io import use_safe_checkpoint_loading
from ..fileio import remove_orphans


def setup_cpu_distributed(cfg: Config) -> None:
    """Make ``--launcher pytorch`` work on machines without CUDA.

    mmengine's launcher calls ``torch.cuda.set_device``, which a CPU-only torch rejects, and
    wraps the model with ``device_ids``, which DDP refuses for CPU modules. On such machines the
    gloo process group is initialised here (the Runner then reuses it) and DDP gets no device
    ids. With CUDA nothing changes.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.env_cfg = cfg.get('env_cfg', {})
    cfg.env_cfg['dist_cfg'] = dict(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg', None) or dict(type='MMDistributedDataParallel'))
    wrapper.setdefault('broadcast_buffers', False)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    os.environ.setdefault('OMP_NUM_THREADS', '1')


def _accepted_arguments(type_name):
    """Argument names a registered ``type`` takes (None: any, or the type is unknown here).

    ``**kwargs`` are followed where they are known to go: up the class hierarchy (mmseg's
    heads pass theirs to ``BaseDecodeHead``) and, for checkpoint hooks, into
    ``Runner.save_checkpoint``.
    """
    from mmengine.hooks import CheckpointHook
    from mmengine.runner import Runner
    from mmseg.registry import DATASETS, HOOKS, METRICS, MODELS, TASK_UTILS, TRANSFORMS
    cls = None
    for registry in (MODELS, DATASETS, TRANSFORMS, HOOKS, METRICS, TASK_UTILS):
        try:
            cls = registry.get(type_name)
        except Exception:  # a scope prefix of a package that is not imported
            cls = None
        if cls is not None:
            break
    if not isinstance(cls, type):
        return None
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        params = inspect.signature(init).parameters
        names |= {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return names - {'self'}
        if klass is CheckpointHook:
            return (names | set(inspect.signature(Runner.save_checkpoint).parameters)) - {
                'self'}
    return None  # **kwargs all the way up: cannot tell


def check_cfg_options(cfg: Config, options: dict) -> None:
    """Refuse ``--cfg-options`` keys that would silently add a new branch or argument.

    mmengine merges any key; a misspelt top-level key (``trian_cfg.max_iters=2``), a misspelt
    parent (``model.backbon.arch=l``) or a misspelt leaf (``default_hooks.checkpoint.
    intervall=2``, ``model.test_cfg.strde=16``) would otherwise be ignored or fail far away,
    after the training it should have saved. A new leaf is accepted only where the part it
    configures (its ``type``) takes an argument of that name, or when it is mmengine's
    ``_delete_`` on an existing dict (``model.backbone.norm_cfg._delete_=True`` with
    ``...norm_cfg.type=BN3d``: the dict is replaced, not merged). Numbers of the train loop are
    checked by :func:`check_train_schedule`.
    """
    from mmengine.runner import Runner
    runner_args = set(inspect.signature(Runner.__init__).parameters) | {'launcher', 'resume'}
    tree = cfg.to_dict()
    for key in options:
        node, path = tree, []
        parts = key.split('.')
        for depth, part in enumerate(parts[:-1] if len(parts) > 1 else parts):
            path.append(part)
            if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                continue
            if isinstance(node, dict) and part in node:
                node = node[part]
                continue
            if depth == 0 and part in runner_args:
                node = None
                break
            _refuse(key, path, list(node.keys()) if isinstance(node, dict) else [])
        leaf = parts[-1]
        if len(parts) < 2 or not isinstance(node, dict) or leaf in node:
            continue
        if leaf == '_delete_':  # mmengine's "replace this dict" (e.g. a norm_cfg, new type)
            continue
        if parts[-2] == 'test_cfg' and len(parts) >= 3 and parts[-3] == 'model':
            from ..models.segmentors.volume_encoder_decoder import TEST_CFG_KEYS
            allowed = TEST_CFG_KEYS
        elif isinstance(options.get('.'.join(parts[:-1] + ['type'])), str):
            # the same options switch the part's type: its arguments are the new type's
            allowed = _accepted_arguments(options['.'.join(parts[:-1] + ['type'])])
        elif 'type' in node and isinstance(node['type'], str):
            allowed = _accepted_arguments(node['type'])
        else:
            allowed = None
        if allowed is not None and leaf not in allowed:
            _refuse(key, parts, sorted(set(allowed) | set(node)), what=node.get('type'))


def _refuse(key, path, choices, what=None):
    near = difflib.get_close_matches(path[-1], [str(c) for c in choices], n=1)
    hint = f" (did you mean '{'.'.join(list(path[:-1]) + near)}'?)" if near else ''
    where = f' ({what} takes no such argument)' if what else ''
    raise ValueError(f"--cfg-options {key}: the config has no '{'.'.join(path)}'{where}{hint}")


def check_train_schedule(cfg: Config) -> None:
    """The loop's iteration counts must be positive integers (one-line errors, before the
    Runner is built: ``max_iters=-5`` used to exit 0 without training)."""
    loop = cfg.get('train_cfg') or {}
    for key in ('max_iters', 'max_epochs', 'val_interval', 'val_begin'):
        if key not in loop:
            continue
        value = loop[key]
        minimum = 1 if key != 'val_begin' else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f'train_cfg.{key} must be an integer >= {minimum}, got {value!r}')
    optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer') or {}
    lr = optimizer.get('lr', 0.0)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr >= 0:
        raise ValueError(f'optim_wrapper.optimizer.lr must be a number >= 0, got {lr!r}')


def guard_work_dir(work_dir: str, resume: bool, overwrite: bool) -> None:
    """A new run must not write over a finished or running one's checkpoints by accident."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if resume or overwrite or not osp.isfile(marker):
        return
    with open(marker) as f:
        last = f.read().strip()
    raise ValueError(f'{work_dir}: already holds a run (last checkpoint {last}); pass --resume '
                     'to continue it, --overwrite to start over in it, or another --work-dir')


_LOCKS = {}  # work dir -> open lock file, held until the process exits


def lock_work_dir(work_dir: str) -> None:
    """Take an exclusive lock on ``work_dir`` for the rest of this process.

    A second run on a busy work dir is refused at start, before it could write over the first
    run's checkpoints. The lock is ``fcntl.flock`` on ``<work_dir>/.lock``: the kernel drops
    it when the process ends, however it ends, so a killed run never leaves a stale lock.
    Only one process per job takes it (rank 0 of a distributed run). Temporary files of a
    save that a killed run left behind are removed once the lock is held.

    Raises:
        ValueError: naming the work dir, when another process holds the lock.
    """
    if int(os.environ.get('RANK', '0')) != 0:
        return
    key = osp.realpath(work_dir)
    if key in _LOCKS:
        return
    os.makedirs(work_dir, exist_ok=True)
    f = open(osp.join(work_dir, '.lock'), 'a+')
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        f.close()
        if err.errno in (errno.EAGAIN, errno.EACCES):
            raise ValueError(f'{work_dir}: another run is using this work dir (its lock '
                             f'{osp.join(work_dir, ".lock")} is held); wait for it or pass '
                             'another --work-dir') from None
        raise
    f.seek(0)
    f.truncate()
    f.write(f'{os.getpid()}\n')
    f.flush()
    _LOCKS[key] = f
    remove_orphans(work_dir)


def load_config(config: str, cfg_options=None, work_dir=None, launcher: str = 'none') -> Config:
    """The config of a tool run: options checked then merged, the launcher recorded, and the
    work dir by mmseg's priority (command line > config > ``work_dirs/<config name>``)."""
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def check_datasets(cfg: Config, splits) -> None:
    """Build the datasets of ``<split>_dataloader`` for each split the run will use, so a split
    file or a listed room that is missing is a one-line error before the Runner makes its work
    dir and builds the model (mmengine builds dataloaders only when the loop starts)."""
    import copy

    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader or not loader.get('dataset'):
            continue
        size = loader.get('batch_size', 1)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f'{split}_dataloader.batch_size must be an integer >= 1, got '
                             f'{size!r}')
        dataset = DATASETS.build(copy.deepcopy(loader['dataset']))
        if getattr(dataset, '_fully_initialized', True) is False:  # lazy_init=True
            dataset.full_init()


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
    from mmengine.config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
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


def run_tool(build_runner, parse_args, action: str) -> None:
    """A tool's entry point: build the Runner and run ``runner.<action>()``, where bad input
    (``ValueError`` / ``FileNotFoundError``, at build time or raised by a validator inside
    the loop) ends in one ``error:`` line, not a stack trace (``--debug`` shows it); a
    distributed run's ranks meet at a barrier and tear their process group down before exit
    (a rank that tears gloo down while another still works, e.g. rank 0 writing the best
    checkpoint, or leaves it to the interpreter's shutdown, can abort with "terminate called
    without an active exception")."""
    import sys

    import torch.distributed as dist
    args = parse_args()
    use_safe_checkpoint_loading()  # every checkpoint this tool reads is untrusted
    try:
        runner = build_runner(args)
        # bad input found while the loop runs (a room, an init_cfg checkpoint, the data loader
        # settings) is the same one-line error as at build time
        getattr(runner, action)()
    except (ValueError, FileNotFoundError) as err:
        if getattr(args, 'debug', False):
            raise
        sys.exit(f'error: {one_line(err)}')
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
