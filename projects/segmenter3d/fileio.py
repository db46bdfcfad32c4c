# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Atomic file writes: the one place that writes a temporary file and renames it.

A reader, or a rerun after ``kill -9``, sees either the previous complete file or the new
complete file, never half of one. Temporary names are ``<stem>.tmp<pid><suffix>`` in the
target's folder (the rename stays on one file system; writers that pick a format from the
suffix still see it); :func:`remove_orphans` cleans those a killed process left behind.
"""
import glob
import os
import os.path as osp
import re
from contextlib import contextmanager
from typing import Iterator, List

import numpy as np

_TMP = re.compile(r'\.tmp\d+(\.[^.]+)?$')


def temporary_name(path: str) -> str:
    stem, suffix = osp.splitext(path)
    return f'{stem}.tmp{os.getpid()}{suffix}'


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it goes.

    Example:
        >>> with atomic_path('out/room_pred.ply') as tmp:
        ...     mesh.export(tmp)
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        with open(tmp, 'rb+') as f:  # on disk before the rename makes it visible
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def write_bytes_atomic(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        f.write(data)


def write_text_atomic(path: str, text: str) -> None:
    write_bytes_atomic(path, text.encode('utf-8'))


def save_npz_atomic(path: str, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` to ``path`` (which must end in ``.npz``), atomically."""
    if not path.endswith('.npz'):
        raise ValueError(f'{path}: save_npz_atomic writes .npz files')
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)


def write_png_atomic(path: str, image: np.ndarray) -> None:
    """An (H, W) or (H, W, 3) BGR image (uint8 or uint16) as PNG, atomically."""
    import cv2
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(image))
    if not ok:
        raise ValueError(f'{path}: the image of shape {image.shape} cannot be encoded as PNG')
    write_bytes_atomic(path, buf.tobytes())


def remove_orphans(folder: str) -> List[str]:
    """Delete temporary files of :func:`atomic_path` (and mmengine's atomic backend) that a
    killed process left in ``folder``; return their paths. Files of live processes stay."""
    removed = []
    for path in glob.glob(osp.join(glob.escape(folder), '*.tmp*')):
        match = re.search(r'\.tmp(\d+)', osp.basename(path))
        if not match or not _TMP.search(osp.basename(path)):
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and _alive(pid):
            continue
        os.remove(path)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
