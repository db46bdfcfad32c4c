# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Reading one file of an untrusted scan folder: it must resolve inside the folder, be a
regular file of bounded size, and (for images) declare a bounded number of pixels before it
is decoded. Used by :mod:`.rgbd_scan`."""
import io
import os
import os.path as osp
import stat
import warnings
from typing import Optional

import cv2
import numpy as np

MAX_FRAME_BYTES = 256 * 2**20  # a 4K 16-bit PNG is about 16 MB
MAX_FRAME_PIXELS = 50_000_000  # 4K is 8.3 Mpx; a header may claim far more than its bytes hold


def resolved_inside(path: str, real_root: str) -> str:
    """``path`` with its links resolved, refused when that leaves ``real_root`` (a resolved
    scan folder): a frame linked to ``~/.ssh/id_rsa`` or another scan would otherwise be read
    and fused. The scan folder itself may be a link (data on another disk), and links within
    it are fine."""
    real = osp.realpath(path)
    if not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise ValueError(f'{path}: leads outside the scan folder (to {real}); a scan\'s files '
                         'stay inside it, symlinks included (link the whole scan folder '
                         'instead)')
    return real


def read_file(path: str, limit: int, real_root: Optional[str] = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (a pipe or a device in a scan
    folder would hang or never end), read from inside ``real_root`` when one is given: the
    resolved path is checked and opened, so a link swapped in after the scan folder was
    checked is still refused."""
    if not osp.lexists(path):
        raise FileNotFoundError(f'{path}: not found')
    path_read = path if real_root is None else resolved_inside(path, real_root)
    try:  # non-blocking: opening a named pipe must not wait for a writer
        fd = os.open(path_read, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0))
    except OSError as err:  # e.g. no permission to read it
        raise ValueError(f'{path}: cannot be read ({err.strerror or err})') from None
    with os.fdopen(fd, 'rb') as f:  # the checks below are of the file that is read
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f'{path}: not a regular file')
        if info.st_size > limit:
            raise ValueError(f'{path}: {info.st_size / 2**20:.1f} MB, more than such a file '
                             f'may hold ({limit / 2**20:.1f} MB)')
        try:
            return f.read(limit + 1)
        except OSError as err:
            raise ValueError(f'{path}: cannot be read ({err.strerror or err})') from None


def imread_checked(path: str, flags: int, real_root: Optional[str] = None) -> Optional[np.ndarray]:
    """cv2.imread, through bytes: OpenCV crashes (segfault) on a file name that is not valid
    UTF-8 (Python hands it over with surrogate escapes). The size the header declares is
    checked before decoding; None when it does not decode."""
    from PIL import Image
    data = read_file(path, MAX_FRAME_BYTES, real_root)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
    except Image.DecompressionBombError as err:  # PIL's own limit, far beyond ours
        raise ValueError(f'{path}: the image declares more pixels than a frame may have '
                         f'({MAX_FRAME_PIXELS:,}): {err}') from None
    except Exception:  # not an image PIL reads: OpenCV decides below
        width = height = 0
    if width * height > MAX_FRAME_PIXELS:
        raise ValueError(f'{path}: the image declares {width}x{height} pixels, more than a '
                         f'frame may have ({MAX_FRAME_PIXELS:,})')
    return cv2.imdecode(np.frombuffer(data, np.uint8), flags) if data else None
