# Copyright (c) 3D Segmenter authors. All rights reserved.
"""What a checkpoint may hold: data of a known shape, checked after the weights-only load.

A checkpoint is a dict. The parts mmengine and our tools read have a fixed shape:

* ``state_dict`` (or ``model``, the reference release's name): names to tensors;
* ``meta``: a dict of plain values (None, bool, int, float, str, and lists, tuples and dicts of
  them; numpy numbers and arrays of plain dtypes); ``epoch``, ``iter`` and ``seed`` integers;
* ``message_hub``: ``log_scalars`` (names to ``HistoryBuffer``), ``runtime_info`` (names to
  plain values) and ``resumed_keys`` (names to booleans), nothing else;
* anything else (``optimizer``, ``param_schedulers``, ...): plain values and tensors.

Anything else (a numpy structured scalar as ``meta``, a ``HistoryBuffer`` outside the message
hub, an object of any other class) is refused with a ``ValueError`` naming the file and the
field. Path-valued entries of the message hub are checked against the run's work dir when a
run resumes (:func:`confine_runtime_paths`).
"""
import os.path as osp
from typing import Dict, List

import numpy as np
import torch

from .fileio import is_inside

_SCALARS = (type(None), bool, int, float, str, bytes)
# message hub entries that are paths the checkpoint hook later deletes or overwrites
PATH_KEYS = ('best_ckpt', 'last_ckpt')


def _fail(path: str, what: str, where: str, message: str):
    raise ValueError(f'{path}: the {what} is not a checkpoint of a known shape: {where} '
                     f'{message}')


def _check_plain(value, path: str, what: str, where: str, tensors: bool) -> None:
    """Plain values, containers of them, numeric numpy values and (if ``tensors``) tensors."""
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype.kind not in 'biuf':
            _fail(path, what, where, f'is a numpy {value.dtype} value; only plain numbers')
        return
    if torch.is_tensor(value):
        if not tensors:
            _fail(path, what, where, 'is a tensor; only plain values are allowed here')
        return
    if isinstance(value, (list, tuple, set)):
        for i, item in enumerate(value):
            _check_plain(item, path, what, f'{where}[{i}]', tensors)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                _fail(path, what, where, f'has a key of type {type(key).__name__}')
            _check_plain(item, path, what, f'{where}[{key!r}]', tensors)
        return
    if isinstance(value, (torch.device, torch.dtype, torch.Size)):
        return
    _fail(path, what, where, f'is a {type(value).__module__}.{type(value).__name__}; only '
          'plain values are allowed')


def _check_state_dict(state, path: str, what: str, where: str) -> None:
    if not isinstance(state, dict):
        _fail(path, what, where, f'is a {type(state).__name__}, not a dict of tensors')
    for key, value in state.items():
        if not isinstance(key, str) or not torch.is_tensor(value):
            _fail(path, what, f'{where}[{key!r}]', f'is a {type(value).__name__}, not a tensor')
    _check_plain(getattr(state, '_metadata', None), path, what, f'{where}._metadata', False)


def _check_message_hub(hub, path: str, what: str) -> None:
    from mmengine.logging.history_buffer import HistoryBuffer
    if not isinstance(hub, dict) or not set(hub) <= {'log_scalars', 'runtime_info',
                                                     'resumed_keys'}:
        keys = sorted(map(str, hub)) if isinstance(hub, dict) else type(hub).__name__
        _fail(path, what, "'message_hub'", f'holds {keys}; mmengine writes log_scalars, '
              'runtime_info and resumed_keys')
    for part in hub:
        if not isinstance(hub[part], dict) or not all(isinstance(k, str) for k in hub[part]):
            _fail(path, what, f"'message_hub'[{part!r}]", 'is not a dict of names')
    for name, buffer in hub.get('log_scalars', {}).items():
        if type(buffer) is not HistoryBuffer:
            _fail(path, what, f"'message_hub'['log_scalars'][{name!r}]",
                  f'is a {type(buffer).__name__}, not a HistoryBuffer')
    _check_plain(hub.get('runtime_info', {}), path, what, "'message_hub'['runtime_info']", True)
    for name, flag in hub.get('resumed_keys', {}).items():
        if not isinstance(flag, bool):
            _fail(path, what, f"'message_hub'['resumed_keys'][{name!r}]", 'is not a boolean')


def check_checkpoint(ckpt, path: str, what: str = 'checkpoint') -> None:
    """Refuse a loaded checkpoint that is not data of the shape described above.

    Raises:
        ValueError: naming the file and the field.
    """
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: the {what} holds no 'state_dict' of tensors (it is a "
                         f'{type(ckpt).__name__}, not a dict)')
    for key in ckpt:
        if not isinstance(key, str):
            _fail(path, what, 'the top level', f'has a key of type {type(key).__name__}')
    named = [k for k in ('state_dict', 'model') if k in ckpt]
    for key in named:
        _check_state_dict(ckpt[key], path, what, repr(key))
    meta = ckpt.get('meta', {})
    if not isinstance(meta, dict):
        _fail(path, what, "'meta'", f'is a {type(meta).__module__}.{type(meta).__name__}, not '
              'a dict')
    _check_plain(meta, path, what, "'meta'", False)
    for key in ('epoch', 'iter', 'seed'):
        if key in meta and meta[key] is not None and type(meta[key]) is not int:
            _fail(path, what, f"'meta'[{key!r}]", f'is a {type(meta[key]).__name__}, not an '
                  'integer')
    if 'message_hub' in ckpt:
        _check_message_hub(ckpt['message_hub'], path, what)
    for key, value in ckpt.items():
        if key not in ('meta', 'message_hub') and key not in named:
            _check_plain(value, path, what, repr(key), True)


def confine_runtime_paths(runtime_info: Dict, out_dir: str, roots: List[str]) -> List[str]:
    """Drop or rebase the message hub's path entries that lead outside the run.

    ``best_ckpt`` (``best_ckpt_<metric>``) and ``last_ckpt`` name files the checkpoint hook
    later deletes (the previous best) or reads. A resumed checkpoint may carry any path there:
    a crafted one, or simply the paths of the work dir it was copied from. An entry outside
    ``roots`` is rebased to the file of the same name in ``out_dir`` when that exists (a copied
    work dir) and dropped otherwise; so is ``keep_ckpt_ids`` when it is not a list of integers.

    Returns:
        list: one line per entry changed, for the log.
    """
    changed = []
    for key in list(runtime_info):
        value = runtime_info[key]
        if key == 'keep_ckpt_ids':
            if not isinstance(value, (list, tuple)) or not all(type(i) is int for i in value):
                changed.append(f'{key}: {str(value)[:80]} dropped (not a list of integers)')
                runtime_info.pop(key)
            continue
        if key not in PATH_KEYS and not key.startswith('best_ckpt_'):
            continue
        if isinstance(value, str) and value and is_inside(value, roots):
            continue
        name = osp.basename(value) if isinstance(value, str) else ''
        local = osp.join(out_dir, name)
        # a best checkpoint is rebased only onto a best checkpoint: the hook deletes it later
        fits = name.endswith('.pth') and (key == 'last_ckpt' or name.startswith('best_'))
        if fits and osp.isfile(local):
            runtime_info[key] = local
            changed.append(f'{key}: {value} is outside the work dir; rebased to {local}')
        else:
            runtime_info.pop(key)
            changed.append(f'{key}: {value!r} is outside the work dir; dropped')
    return changed
