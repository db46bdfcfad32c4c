# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Runtime helpers shared by the command-line tools."""
import difflib
import inspect
import os
import os.path as osp
from numbers import Integral
from typing import Dict, Sequence, Tuple, Union

import numpy as np
import torch
import torch.distributed as dist
from mmengine.config import Config


def to_triple(value: Union[int, Sequence[int]], name: str) -> Tuple[int, int, int]:
    """An int or 3 ints as a (D, H, W) triple of positive ints; ValueError naming ``name``."""
    triple = (value, ) * 3 if isinstance(value, Integral) else tuple(value)
    if len(triple) != 3 or not all(isinstance(v, Integral) and v > 0 for v in triple):
        raise ValueError(f'{name} must be a positive int or 3 positive ints, got {value}')
    return tuple(int(v) for v in triple)


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


def trust_own_checkpoints() -> None:
    """Allow the Runner's own checkpoints under torch's ``weights_only`` loading.

    mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; since torch 2.6 that means
    ``weights_only=True``, which rejects the message hub's ``HistoryBuffer`` (pickled with
    ``getattr`` for its statistics methods) and the numpy arrays and scalars it holds, so
    ``--resume`` and testing a Runner checkpoint would fail. Only these globals are allowed;
    the weights-only unpickler still refuses to call anything else.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    core = getattr(np, '_core', None) or np.core
    safe = [HistoryBuffer, getattr, np.ndarray, np.dtype, core.multiarray._reconstruct,
            core.multiarray.scalar]
    safe += [type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool')]
    torch.serialization.add_safe_globals(safe)


def save_npz_atomic(path: str, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` to a temporary name, then renamed: a reader (or a rerun after an
    interruption) never sees half a file, and an existing ``path`` stays whole until replaced."""
    if not path.endswith('.npz'):
        raise ValueError(f'{path}: save_npz_atomic writes .npz files')
    tmp = path[:-4] + '.tmp.npz'
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def load_weights(model: torch.nn.Module, path: str, what: str = 'checkpoint') -> Dict:
    """Load a checkpoint into ``model`` strictly, with errors that name the file and the keys.

    Returns:
        dict: the loaded checkpoint (``meta`` and all).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable, no state dict, or weights that do not fit the model (another
            variant, another class count): the first mismatches are listed.
    """
    ckpt, state = read_state_dict(path, what)
    problems = weight_mismatches(model, state)
    if problems:
        raise ValueError(f'{path}: the {what} does not fit {type(model).__name__} (another '
                         f'variant or class count?): ' + '; '.join(problems))
    model.load_state_dict(state, strict=True)
    return ckpt


def read_state_dict(path: str, what: str = 'checkpoint') -> Tuple[Dict, Dict]:
    """(checkpoint, state dict without DDP's ``module.``) of a trusted file; named errors."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: {what} not found')
    trust_own_checkpoints()
    try:
        ckpt = torch.load(path, map_location='cpu')
    except Exception as err:  # pickle, zip and torch errors alike: the file is not usable
        raise ValueError(f'{path}: cannot be loaded as a {what} (corrupt, truncated or not a '
                         f'torch file?): {str(err).splitlines()[0]}') from err
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{path}: the {what} holds no 'state_dict' of tensors")
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    return ckpt, state


def weight_mismatches(model: torch.nn.Module, state: Dict[str, torch.Tensor],
                      show: int = 3) -> list:
    """Human-readable differences between ``model``'s state dict and ``state`` (empty: fits)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f'{k}: {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model'
              for k in own if k in state and state[k].shape != own[k].shape]
    problems = []
    if shapes:
        problems.append(f'{len(shapes)} shape mismatches, e.g. ' + ', '.join(shapes[:show]))
    if missing:
        problems.append(f'{len(missing)} missing keys, e.g. {missing[:show]}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected keys, e.g. {unexpected[:show]}')
    return problems


def check_cfg_options(cfg: Config, options: dict) -> None:
    """Refuse ``--cfg-options`` keys that would silently add a new branch to the config.

    mmengine merges any key; a misspelt top-level key (``trian_cfg.max_iters=2``) or a
    misspelt parent (``model.backbon.arch=l``) would otherwise be ignored or fail far away.
    The last component may be new (it becomes an argument, which the builder checks).
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
                break
            choices = list(node.keys()) if isinstance(node, dict) else []
            near = difflib.get_close_matches(part, choices, n=1)
            hint = f" (did you mean '{'.'.join(path[:-1] + near)}'?)" if near else ''
            raise ValueError(f"--cfg-options {key}: the config has no '{'.'.join(path)}'{hint}")


def guard_work_dir(work_dir: str, resume: bool, overwrite: bool) -> None:
    """A new run must not write over a finished or running one's checkpoints by accident."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if resume or overwrite or not osp.isfile(marker):
        return
    with open(marker) as f:
        last = f.read().strip()
    raise ValueError(f'{work_dir}: already holds a run (last checkpoint {last}); pass --resume '
                     'to continue it, --overwrite to start over in it, or another --work-dir')
