# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Atomic file writes: the one place that writes a temporary file and renames it.

A reader, or a rerun after ``kill -9``, sees either the previous complete file or the new
complete file, never half of one. Temporary names are ``<stem>.segmenter3d-tmp<pid><suffix>``
in the target's folder (the rename stays on one file system; writers that pick a format from the
suffix still see it); :func:`remove_orphans` cleans those a killed process left behind, and only
those: the marker is a name no other program writes (a user's ``scan.tmp4194999.npz`` stays).
"""
import glob
import os
import os.path as osp
import re
from contextlib import contextmanager
from typing import Iterator, List

import numpy as np

_MARKER = '.segmenter3d-tmp'
_TMP = re.compile(re.escape(_MARKER) + r'(\d+)(\.[^.]+)?$')


def temporary_name(path: str) -> str:
    stem, suffix = osp.splitext(path)
    return f'{stem}{_MARKER}{os.getpid()}{suffix}'


def check_writable(path: str, label: str, folder: bool = False) -> None:
    """``path`` (a file; with ``folder``, a folder of outputs) can be written: its nearest
    existing ancestor is a folder, a file is not an existing folder, and a file's temporary
    twin has a name the file system takes.

    Raises:
        ValueError: naming ``label`` and the file in the way, or the name.
    """
    parent = osp.abspath(path) if folder else osp.dirname(osp.abspath(path))
    while not osp.lexists(parent):  # created when the first output is written
        parent = osp.dirname(parent)
    if not osp.isdir(parent):
        raise ValueError(f'{label}: {parent} is a file, not a folder')
    if not folder and osp.isdir(path):
        raise ValueError(f'{label}: {path} is a folder; name a file')
    if not folder and len(osp.basename(temporary_name(path)).encode()) > 255:
        raise ValueError(f'{path}: the file name is too long (with the temporary suffix '
                         'written first, over 255 bytes); use a shorter name')


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


def path_inside(root: str, name: str, what: str = 'name') -> str:
    """``root/name``, refused when it lands outside ``root`` once links are resolved.

    For paths built from untrusted names (split files): ``..``, an absolute name or a symlink
    inside ``root`` that points elsewhere would otherwise make a tool read or write outside
    its data folder. ``root`` itself may be a link (data on another disk).

    Raises:
        ValueError: naming ``root`` and the name.
    """
    path = osp.join(root, name)
    real_root = osp.realpath(root)
    real = osp.realpath(path)
    if osp.isabs(name) or not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise ValueError(f'{root}: {what} {name!r} leads outside it (to {real}); names must '
                         'stay inside their folder, symlinks included')
    return path


def refuse_same_file(src: str, dst: str, what: str = 'output') -> None:
    """A tool that reads ``src`` and writes ``dst`` must not replace its own input: the same
    path, or the same file through a symlink or a hard link.

    Raises:
        ValueError: naming both.
    """
    same = osp.realpath(src) == osp.realpath(dst)
    if not same and osp.exists(src) and osp.exists(dst):
        same = osp.samefile(src, dst)
    if same:
        raise ValueError(f'{dst}: the {what} is the input {src} (links resolved); write it '
                         'elsewhere, the input is never replaced')


def is_inside(path: str, roots: List[str]) -> bool:
    """``path``, links resolved, is one of ``roots`` or lies under one."""
    real = osp.realpath(path)
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep)
               for r in map(osp.realpath, roots))


OUTPUTS_FILE = '.segmenter3d-outputs'  # names of the files a tool wrote into an output folder


def claim_outputs(out_dir: str, targets: List[str], inputs: List[str],
                  option: str = '--out') -> None:
    """Make sure a tool writes only files of its own into ``out_dir``, then record them.

    Refused: an ``out_dir`` that holds one of the ``inputs`` (a scene folder, a data folder),
    and a target that exists but is not listed in ``<out_dir>/.segmenter3d-outputs`` (the
    files this project's tools wrote there; a rerun replaces its own outputs, never a
    user's file of the same name). The targets are recorded before they are written, so a
    killed run's files stay replaceable.

    Raises:
        ValueError: naming the folder or the file.
    """
    check_writable(out_dir, f'{option} {out_dir}', folder=True)
    for path in targets:  # a folder of outputs (infer's <room>_frames) is replaced too
        check_writable(path, path, folder=osp.isdir(path))
    for src in inputs:
        if is_inside(src, [out_dir]):
            raise ValueError(f'{option} {out_dir}: holds the input {src}; write the outputs to '
                             'a folder of their own')
    record = osp.join(out_dir, OUTPUTS_FILE)
    made = set()
    if osp.isfile(record):
        with open(record, encoding='utf-8', errors='replace') as f:
            made = {line.rstrip('\n') for line in f if line.strip()}
    for path in targets:
        if osp.lexists(path) and osp.basename(path) not in made:
            raise ValueError(f'{path}: exists and was not written by this tool; it is never '
                             f'overwritten (move it, or pick another {option})')
    made |= {osp.basename(p) for p in targets}
    write_text_atomic(record, ''.join(f'{name}\n' for name in sorted(made)))


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
    for path in glob.glob(osp.join(glob.escape(folder), f'*{_MARKER}*')):
        match = _TMP.search(osp.basename(path))
        if not match or not osp.isfile(path) or osp.islink(path):
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
