# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Reading checkpoints without executing anything, with errors that name the file.

Every checkpoint a tool is handed is untrusted. It is read with torch's ``weights_only``
unpickler, which builds only tensors, containers and the globals allowed for that one call
(``torch.serialization.safe_globals``, a context, never the process-wide list):

* mmengine's message hub (``HistoryBuffer`` and the numpy arrays and scalars it holds), which
  the Runner writes into every checkpoint;
* ``builtins.getattr`` is **not** among them: a HistoryBuffer pickles its statistics methods
  as ``getattr(HistoryBuffer, 'min')``, and a real ``getattr`` would let a crafted pickle walk
  from any allowed object to ``builtins`` and ``eval``. That name resolves here to
  :func:`_history_buffer_method`, which returns only the statistics methods of HistoryBuffer
  and refuses everything else.

``meta['config']`` (the Runner stores the whole config as Python source; mmengine's ``resume``
would execute it to compare GPU ids) is dropped on reading: nothing here needs it.

Importing ``segmenter3d`` routes mmengine's own loading of local files (``load_from``,
``--resume``, ``init_cfg=dict(type='Pretrained')``) through :func:`load_checkpoint_file`.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, Tuple

import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader

# HistoryBuffer's statistics methods, pickled (protocol 2) as getattr(HistoryBuffer, name)
_STATISTICS = ('min', 'max', 'mean', 'current')


class UnsafeCheckpointError(ValueError):
    """A checkpoint asked for something a weights-only load must not do."""


def _history_buffer_method(obj, name: str):
    """The only ``getattr`` a checkpoint may call: a statistics method of HistoryBuffer."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and isinstance(name, str) and name in _STATISTICS:
        return getattr(HistoryBuffer, name)
    raise UnsafeCheckpointError(f'checkpoint asks for getattr({obj!r}, {name!r}); only '
                                'HistoryBuffer statistics are allowed')


def _allowed_globals() -> list:
    from mmengine.logging.history_buffer import HistoryBuffer
    core = getattr(np, '_core', None) or np.core
    allowed = [HistoryBuffer, np.ndarray, np.dtype, core.multiarray._reconstruct,
               core.multiarray.scalar, (_history_buffer_method, 'builtins.getattr')]
    allowed += [type(np.dtype(t)) for t in ('float64', 'float32', 'float16', 'int64',
                                             'int32', 'uint8', 'bool')]
    return allowed


def load_checkpoint_file(path: str, map_location='cpu', what: str = 'checkpoint'):
    """``torch.load`` of an untrusted file: weights only, a narrow per-call allow-list.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file: unreadable, or it asks for a global outside the list.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: {what} not found')
    try:
        with torch.serialization.safe_globals(_allowed_globals()):
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle, zip and torch errors alike: the file is not usable
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f'{path}: cannot be loaded as a {what} (corrupt, truncated, not a '
                         f'torch file, or it holds objects a weights-only load refuses): '
                         f'{message}') from err
    if isinstance(ckpt, dict) and isinstance(ckpt.get('meta'), dict):
        ckpt['meta'].pop('config', None)  # Python source: never executed
    return ckpt


@CheckpointLoader.register_scheme(prefixes='', force=True)
def _load_local(filename: str, map_location=None):
    """mmengine's loader of local paths, replaced by the safe one."""
    return load_checkpoint_file(osp.expanduser(filename), map_location)


def read_state_dict(path: str, what: str = 'checkpoint') -> Tuple[Dict, Dict]:
    """(checkpoint, state dict without DDP's ``module.``) of a file; named errors. The state
    dict keeps the per-module versions torch saved with it (``_metadata``)."""
    ckpt = load_checkpoint_file(path, 'cpu', what)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state or not all(
            torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{path}: the {what} holds no 'state_dict' of tensors")
    metadata = getattr(state, '_metadata', None)
    state = OrderedDict((_strip_ddp(k), v) for k, v in state.items())
    if metadata is not None:
        # torch hands each module its saved version from here; spconv layers (mmdet3d's
        # loader) read their weights as another layout without it
        state._metadata = OrderedDict((_strip_ddp(k), v) for k, v in metadata.items())
    return ckpt, state


def _strip_ddp(key: str) -> str:
    """A state-dict (or metadata) key without DDP's ``module`` prefix."""
    if key == 'module':
        return ''
    return key[len('module.'):] if key.startswith('module.') else key


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


def load_weights(model: torch.nn.Module, path: str, what: str = 'checkpoint') -> Dict:
    """Load a checkpoint into ``model`` strictly, with errors that name the file and the keys.

    Returns:
        dict: the loaded checkpoint (``meta`` and all, ``meta['config']`` dropped).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable, unsafe, no state dict, or weights that do not fit the model
            (another variant, another class count): the first mismatches are listed.
    """
    ckpt, state = read_state_dict(path, what)
    problems = weight_mismatches(model, state)
    if problems:
        raise ValueError(f'{path}: the {what} does not fit {type(model).__name__} (another '
                         f'variant or class count?): ' + '; '.join(problems))
    model.load_state_dict(state, strict=True)
    return ckpt
