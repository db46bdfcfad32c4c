# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Reading checkpoints without executing anything, with errors that name the file.

Every checkpoint a tool is handed is untrusted. It is read with torch's ``weights_only``
unpickler, which builds only tensors, containers and the globals allowed for that one call
(``torch.serialization.safe_globals``, a context, never the process-wide list). Numpy and
mmengine's message hub (which the Runner writes into every checkpoint) are not allowed as
themselves: their names resolve to stand-ins of this module, so no pickle ``BUILD`` ever reaches
a real numpy dtype, array or ``HistoryBuffer`` (a ``BUILD`` on a dtype can give it object
fields and clear its flags; ``HistoryBuffer.__setstate__`` rewrites a class-level table):

* ``numpy.dtype`` gives a :class:`_DTypeToken` that accepts only the state of a plain
  numeric dtype (no fields, no subarray, no flags): structured dtypes and ``np.void`` scalars
  are refused;
* an array is rebuilt from its bytes by :class:`_ArrayToken` (``np.frombuffer`` of a plain
  dtype, the byte count checked against the shape); a scalar by :func:`_scalar`;
* a ``HistoryBuffer`` is rebuilt per instance from its two histories and ``max_length``
  (:class:`_HistoryBufferToken`); its pickled ``statistics_methods`` must be the default ones
  and are never written into the class;
* ``builtins.getattr`` is **not** among them: a HistoryBuffer pickles its statistics methods
  as ``getattr(HistoryBuffer, 'min')``, and a real ``getattr`` would let a crafted pickle walk
  from any allowed object to ``builtins`` and ``eval``. That name resolves here to
  :func:`_history_buffer_method`, which returns only the statistics methods of HistoryBuffer
  and refuses everything else.

After loading, the stand-ins are swapped for the real values and the checkpoint's structure is
checked (:mod:`segmenter3d.checkpoint_schema`). ``meta['config']`` (the Runner stores the
whole config as Python source; mmengine's ``resume`` would execute it to compare GPU ids) is
dropped on reading: nothing here needs it.

:func:`use_safe_checkpoint_loading` (which our tools call; importing ``segmenter3d`` does not)
routes mmengine's own loading of local files (``load_from``, ``--resume``,
``init_cfg=dict(type='Pretrained')``) through :func:`load_checkpoint_file`.
"""
import math
import os.path as osp
import zipfile
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

from .checkpoint_schema import check_checkpoint

# HistoryBuffer's statistics methods, pickled (protocol 2) as getattr(HistoryBuffer, name)
_STATISTICS = ('min', 'max', 'mean', 'current')
# dtypes a checkpoint may hold in numpy form (the message hub's histories and scalars)
_PLAIN_DTYPES = ('f8', 'f4', 'f2', 'i8', 'i4', 'i2', 'i1', 'u8', 'u4', 'u2', 'u1', 'b1')


class UnsafeCheckpointError(ValueError):
    """A checkpoint asked for something a weights-only load must not do."""


class _DTypeToken:
    """Stands for ``numpy.dtype(name, align, copy)``: only plain numeric dtypes."""

    def __init__(self, name=None, align=False, copy=True):
        if not isinstance(name, str) or name not in _PLAIN_DTYPES or align:
            raise UnsafeCheckpointError(f'checkpoint asks for numpy dtype {name!r} (align '
                                        f'{align!r}); only plain numeric dtypes are allowed')
        self.name, self.value = name, None

    def __setstate__(self, state):
        # a plain dtype pickles (3, byte order, None, None, None, -1, -1, 0): no subarray,
        # names, fields, item size, alignment or flags (object fields come in through those)
        if (not isinstance(state, tuple) or len(state) != 8 or state[0] != 3
                or state[1] not in ('<', '>', '|', '=') or state[2:] != (None, None, None, -1,
                                                                          -1, 0)):
            raise UnsafeCheckpointError(f'checkpoint sets numpy dtype {self.name} to the state '
                                        f'{str(state)[:200]}; only plain dtypes are allowed')
        dtype = np.dtype(getattr(self, 'name', None) or 'V')
        if dtype.name.startswith('void'):
            raise UnsafeCheckpointError('checkpoint builds a numpy dtype without a name')
        self.value = dtype.newbyteorder(state[1]) if state[1] in '<>' else dtype


def _dtype(name=None, align=False, copy=True) -> _DTypeToken:
    return _DTypeToken(name, align, copy)


def _plain_dtype(token) -> np.dtype:
    if not isinstance(token, _DTypeToken) or token.value is None:
        raise UnsafeCheckpointError(f'checkpoint gives a numpy value the dtype {token!r}; only '
                                    'plain numeric dtypes are allowed')
    return token.value


class _NDArrayName:
    """What the name ``numpy.ndarray`` means inside a checkpoint: nothing but a marker."""


class _ArrayToken:
    """Stands for ``numpy.core.multiarray._reconstruct(ndarray, ...)``; its state is the bytes
    of an array of a plain dtype, copied into a fresh array."""

    def __init__(self, cls=None, shape=(0, ), typecode=b'b'):
        if cls is not _NDArrayName:
            raise UnsafeCheckpointError(f'checkpoint rebuilds a numpy array of class {cls!r}; '
                                        'only numpy.ndarray is allowed')
        self.value = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 5 or state[0] != 1:
            raise UnsafeCheckpointError('checkpoint holds a numpy array of an unknown layout')
        _, shape, dtype, fortran, raw = state
        dtype = _plain_dtype(dtype)
        if (not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape)
                or not isinstance(raw, (bytes, bytearray)) or not isinstance(fortran, bool)):
            raise UnsafeCheckpointError('checkpoint holds a numpy array of an unknown layout')
        if len(raw) != math.prod(shape) * dtype.itemsize:  # Python ints: no overflow
            raise UnsafeCheckpointError(f'checkpoint holds a numpy array of shape {shape} with '
                                        f'{len(raw)} bytes of data')
        self.value = np.frombuffer(bytes(raw), dtype).reshape(
            shape, order='F' if fortran else 'C').copy()


def _reconstruct(cls=None, shape=(0, ), typecode=b'b') -> _ArrayToken:
    return _ArrayToken(cls, shape, typecode)


def _scalar(dtype, raw=b''):
    """``numpy.core.multiarray.scalar``: a numpy scalar of a plain dtype (never ``np.void``)."""
    dtype = _plain_dtype(dtype)
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != dtype.itemsize:
        raise UnsafeCheckpointError(f'checkpoint holds a numpy {dtype} scalar of {len(raw)} '
                                    'bytes')
    return np.frombuffer(bytes(raw), dtype)[0]


class _HistoryBufferToken:
    """Stands for mmengine's ``HistoryBuffer``: its state is checked and kept here, and a
    real buffer is made per instance afterwards (never ``HistoryBuffer.__setstate__``)."""

    def __setstate__(self, state):
        from mmengine.logging.history_buffer import HistoryBuffer
        if not isinstance(state, dict) or not set(state) <= {
                'max_length', '_log_history', '_count_history', 'statistics_methods'}:
            keys = sorted(map(str, state)) if isinstance(state, dict) else type(state).__name__
            raise UnsafeCheckpointError(f'checkpoint holds a HistoryBuffer with the state {keys}')
        methods = state.get('statistics_methods', {})
        if not isinstance(methods, dict) or any(
                name not in _STATISTICS or method is not getattr(HistoryBuffer, name)
                for name, method in methods.items()):
            raise UnsafeCheckpointError('checkpoint holds a HistoryBuffer whose statistics '
                                        'methods are not the default ones')
        self.state = {k: v for k, v in state.items() if k != 'statistics_methods'}


def _bytes(*args) -> bytes:
    """``bytes()``: how protocol 2 pickles ``b''`` (an empty array's data); nothing else."""
    if args:
        raise UnsafeCheckpointError(f'checkpoint calls bytes{args!r}; only bytes() is allowed')
    return b''


def _history_buffer_method(obj, name: str):
    """The only ``getattr`` a checkpoint may call: a statistics method of HistoryBuffer."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is _HistoryBufferToken and isinstance(name, str) and name in _STATISTICS:
        return getattr(HistoryBuffer, name)
    raise UnsafeCheckpointError(f'checkpoint asks for getattr({obj!r}, {name!r}); only '
                                'HistoryBuffer statistics are allowed')


def _allowed_globals() -> list:
    allowed = [(_history_buffer_method, 'builtins.getattr'),
               (_HistoryBufferToken, 'mmengine.logging.history_buffer.HistoryBuffer'),
               (_dtype, 'numpy.dtype'), (_NDArrayName, 'numpy.ndarray'),
               (_bytes, 'builtins.bytes')]
    for core in ('numpy.core', 'numpy._core'):  # numpy 1 and numpy 2 spellings
        allowed += [(_reconstruct, f'{core}.multiarray._reconstruct'),
                    (_scalar, f'{core}.multiarray.scalar')]
    # BUILD applies only to instances of allowed types: these validate their state
    allowed += [(_DTypeToken, 'segmenter3d.checkpoint_io._DTypeToken'),
                (_ArrayToken, 'segmenter3d.checkpoint_io._ArrayToken')]
    return allowed


def _materialise(obj, path: str, seen: dict):
    """The loaded object with every stand-in replaced by its real value (containers are
    updated in place, so shared references and ``OrderedDict`` metadata survive)."""
    key = id(obj)
    if key in seen:
        if seen[key] is _VISITING:
            raise ValueError(f'{path}: the checkpoint holds a container that contains itself')
        return seen[key]
    if isinstance(obj, (_ArrayToken, _DTypeToken)):
        if getattr(obj, 'value', None) is None:
            raise UnsafeCheckpointError(f'checkpoint holds an incomplete numpy value at {path}')
        seen[key] = obj.value
        return obj.value
    if isinstance(obj, _HistoryBufferToken):
        from mmengine.logging.history_buffer import HistoryBuffer
        state = getattr(obj, 'state', None)
        if state is None:
            raise UnsafeCheckpointError(f'checkpoint holds an empty HistoryBuffer at {path}')
        logs = _materialise(state.get('_log_history', np.zeros(0)), path, seen)
        counts = _materialise(state.get('_count_history', np.zeros(0)), path, seen)
        length = state.get('max_length', 1000000)
        if (not all(isinstance(a, np.ndarray) and a.ndim == 1 for a in (logs, counts))
                or len(logs) != len(counts) or type(length) is not int or length < 1):
            raise ValueError(f'{path}: a HistoryBuffer needs two 1-D histories of one length '
                             'and an integer max_length')
        buffer = HistoryBuffer(max_length=length)  # statistics: the class defaults
        buffer._log_history, buffer._count_history = logs, counts
        seen[key] = buffer
        return buffer
    if isinstance(obj, (dict, list)):
        seen[key] = _VISITING
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for k, v in list(items):
            obj[k] = _materialise(v, f'{path}[{k!r}]', seen)
        seen[key] = obj
        return obj
    if isinstance(obj, tuple):
        seen[key] = _VISITING
        value = tuple(_materialise(v, f'{path}[{i}]', seen) for i, v in enumerate(obj))
        seen[key] = value
        return value
    return obj


_VISITING = object()


def _check_records(path: str, what: str) -> None:
    """A torch file is a zip of stored (uncompressed) records: a record that inflates to far
    more than its bytes is a zip bomb, refused before torch allocates it."""
    if not zipfile.is_zipfile(path):
        return  # a legacy (pickle) file: torch.load reads it, weights only
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ValueError(f'{path}: cannot be loaded as a {what} (corrupt zip): {err}') from None
    for info in infos:
        if info.file_size > 16 * info.compress_size + 2**20:
            raise ValueError(f'{path}: record {info.filename!r} of the {what} declares '
                             f'{info.file_size:,} bytes from {info.compress_size:,} (torch '
                             'stores records uncompressed: a zip bomb?)')


def load_checkpoint_file(path: str, map_location='cpu', what: str = 'checkpoint'):
    """``torch.load`` of an untrusted file: weights only, a narrow per-call allow-list.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file: unreadable, it asks for a global outside the list or
            for a numpy value that is not plain, or its structure is not a checkpoint's
            (:func:`segmenter3d.checkpoint_schema.check_checkpoint`).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: {what} not found')
    _check_records(path, what)
    try:
        with torch.serialization.safe_globals(_allowed_globals()):
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle, zip and torch errors alike: the file is not usable
        message = str(err).split('WeightsUnpickler error: ')[-1]  # torch's reason, not advice
        message = next((line.strip() for line in message.splitlines() if line.strip()),
                       type(err).__name__)
        raise ValueError(f'{path}: cannot be loaded as a {what} (corrupt, truncated, not a '
                         f'torch file, or it holds objects a weights-only load refuses): '
                         f'{message}') from err
    try:
        ckpt = _materialise(ckpt, 'checkpoint', {})
    except RecursionError:
        raise ValueError(f'{path}: the {what} nests containers too deeply') from None
    except ValueError as err:
        raise ValueError(f'{path}: cannot be loaded as a {what}: {err}') from None
    check_checkpoint(ckpt, path, what)
    if isinstance(ckpt.get('meta'), dict):
        ckpt['meta'].pop('config', None)  # Python source: never executed
    return ckpt


def _load_local(filename: str, map_location=None):
    """mmengine's loader of local paths, as :func:`use_safe_checkpoint_loading` replaces it."""
    return load_checkpoint_file(osp.expanduser(filename), map_location)


def use_safe_checkpoint_loading() -> bool:
    """Route mmengine's loading of local checkpoint files (``load_from``, ``--resume``,
    ``init_cfg=dict(type='Pretrained')``) through :func:`load_checkpoint_file` for the rest
    of the process: weights-only unpickling with validating stand-ins, the structure checked,
    ``meta['config']`` dropped.

    Importing ``segmenter3d`` changes nothing global; this call does, once, and says so in
    the log. Our tools make it before building the Runner. Another project that mixes our
    parts into its configs keeps mmengine's own loader unless it calls this too (a documented
    choice: with torch >= 2.6 mmengine's loader refuses a Runner checkpoint on ``--resume``,
    since HistoryBuffer is not a weights-only type).

    Returns:
        bool: True when this call switched the loader, False when it already was ours.
    """
    if CheckpointLoader._schemes.get('') is _load_local:
        return False
    CheckpointLoader.register_scheme(prefixes='', loader=_load_local, force=True)
    print_log('segmenter3d: local checkpoints are read by the weights-only loader '
              '(checkpoint_io.load_checkpoint_file): a checkpoint is untrusted data, '
              'never code', logger='current')
    return True


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
    for key, value in state.items():  # a diverged run predicts one class everywhere
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ValueError(f"{path}: state_dict['{key}'] holds NaN or Inf (a diverged run?)")
    model.load_state_dict(state, strict=True)
    return ckpt


def dataset_meta_of(ckpt: Dict, path: str, num_classes: int) -> Optional[Dict]:
    """``meta['dataset_meta']`` of a loaded checkpoint, checked: ``classes`` names and
    ``palette`` RGB triples (0..255), one per class of the model, when present.

    Raises:
        ValueError: naming the file and the field.
    """
    meta = (ckpt.get('meta') or {}).get('dataset_meta')
    if meta is None:
        return None
    field = "meta['dataset_meta']"
    if not isinstance(meta, dict):
        raise ValueError(f'{path}: {field} must be a dict, got {type(meta).__name__}')
    classes, palette = meta.get('classes'), meta.get('palette')
    if classes is not None and (not isinstance(classes, (list, tuple)) or len(classes) !=
                                num_classes or not all(isinstance(c, str) for c in classes)):
        raise ValueError(f"{path}: {field}['classes'] must be {num_classes} class names, one "
                         f'per class of the model, got {str(classes)[:80]}')
    if palette is not None:
        ok = isinstance(palette, (list, tuple)) and len(palette) == num_classes and all(
            isinstance(c, (list, tuple)) and len(c) == 3 and all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in c)
            for c in palette)
        if not ok:
            raise ValueError(f"{path}: {field}['palette'] must be {num_classes} RGB triples of "
                             f'integers 0..255, one per class, got {str(palette)[:80]}')
    return meta
