# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Checks of a run's configuration before the Runner is built: ``--cfg-options`` keys and
values against what the parts accept, the training schedule, and the datasets the run reads
(missing split files or rooms are one-line errors before anything is written)."""
import difflib
import inspect

from mmengine.config import Config


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


def check_device(device: str) -> None:
    """A ``--device`` torch knows and this machine has: CUDA only where it is available, and
    ``cuda:N`` only below the number of GPUs (otherwise it fails later, after loading).

    Raises:
        ValueError: naming the option.
    """
    import torch
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f'--device {device}: {err}') from None
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise ValueError(f'--device {device}: CUDA is not available here; use --device cpu')
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f'--device {device}: this machine has {count} GPU(s), '
                             f'cuda:0 to cuda:{count - 1}')
    elif dev.type == 'mps':
        if not torch.backends.mps.is_available():
            raise ValueError(f'--device {device}: MPS is not available here; use --device cpu')
    elif dev.type != 'cpu':  # meta, xla, ...: tensors that never hold a result here
        raise ValueError(f'--device {device}: the tools run on cpu, cuda[:N] or mps')


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
