# Copyright (c) 3D Segmenter authors. All rights reserved.
"""RGB-D scans in ScanNet's SensReader export layout: reading (validated) and writing (fusing
one into a room: :mod:`.rgbd_fusion`).

Layout of a scan folder::

    color/<i>.jpg                      8-bit RGB (any resolution)
    depth/<i>.png                      uint16 depth, millimetres (0 = no measurement)
    pose/<i>.txt                       4x4 camera-to-world, OpenCV axes (x right, y down,
                                       z forward); ScanNet marks lost tracking with -inf
    intrinsic/intrinsic_depth.txt      4x4 (or 3x3) with fx, fy, cx, cy at [0,0], [1,1], [0,2],
    intrinsic/intrinsic_color.txt      [1,2]
    label-filt/<i>.png or label/<i>.png  optional class ids (255 unknown), or raw ScanNet ids
                                       mapped with ``scannetv2-labels.combined.tsv``

Colour shares the depth camera's pose but may have another resolution and intrinsics: it is
resampled into the depth frame (bilinear; labels nearest). Label images may have the depth or
the colour size. Frames whose pose is not finite are skipped and counted. Every problem is a
``ValueError``/``FileNotFoundError`` naming the file.
"""
import glob
import io
import os
import os.path as osp
import warnings
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from ..fileio import write_bytes_atomic, write_png_atomic, write_text_atomic
from .room_io import MAX_WORLD_METRES
from .scan_files import imread_checked, read_file, resolved_inside

LABEL_DIRS = ('label-filt', 'label')
MAX_VOXELS = 300_000_000  # beyond this a dense volume will not fit: ask for --bounds
MAX_POSE_METRES = MAX_WORLD_METRES  # a camera farther than this is a broken pose
FOCAL_RANGE = (1.0, 1e6)  # pixels
MIN_DEPTH_SCALE = 0.65535  # a 16-bit depth then reaches at most 100 km


def _frame_ids(folder: str, suffix: str) -> Dict[int, str]:
    """Frame number -> file; ``0.jpg`` and ``000000.jpg`` are both frame 0, so a folder
    holding both is refused rather than one of them silently dropped."""
    ids: Dict[int, str] = {}
    for path in sorted(glob.glob(osp.join(glob.escape(folder), f'*{suffix}'))):
        stem = osp.basename(path)[:-len(suffix)]
        if stem.isascii() and stem.isdigit():  # not '²', which isdigit() also accepts
            if int(stem) in ids:
                raise ValueError(f'{path}: frame {int(stem)} again (also '
                                 f'{osp.basename(ids[int(stem)])}); keep one file per frame')
            ids[int(stem)] = path
    return ids


def read_matrix(path: str, real_root: Optional[str] = None) -> np.ndarray:
    """A 4x4 (or 3x3) matrix of numbers from a text file (inside ``real_root``), float64."""
    text = read_file(path, 64 * 2**10, real_root)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # numpy warns on an empty file; we raise
            matrix = np.loadtxt(io.BytesIO(text), dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise ValueError(f'{path}: not a matrix of numbers ({err})') from None
    if matrix.shape not in ((4, 4), (3, 3), (3, 4)):
        raise ValueError(f'{path}: expected a 4x4 matrix, got shape {matrix.shape}')
    return matrix


def read_intrinsics(path: str, real_root: Optional[str] = None) -> np.ndarray:
    """(3, 3) pinhole matrix from a ScanNet ``intrinsic_*.txt``; fx, fy must be positive."""
    K = read_matrix(path, real_root)[:3, :3]
    low, high = FOCAL_RANGE
    if not np.isfinite(K).all() or not (low <= K[0, 0] <= high and low <= K[1, 1] <= high):
        raise ValueError(f'{path}: intrinsics need finite values and fx, fy between {low:g} '
                         f'and {high:g} pixels, got fx={K[0, 0]:g}, fy={K[1, 1]:g}')
    if abs(K[0, 1]) > 1e-6 * K[0, 0] or abs(K[1, 0]) > 1e-6 * K[1, 1]:  # not rounding noise
        raise ValueError(f'{path}: a skewed pinhole (entries [0,1], [1,0] = {K[0, 1]:g}, '
                         f'{K[1, 0]:g}) is not supported; they must be 0')
    if not np.allclose(K[2], [0, 0, 1], atol=1e-6):
        raise ValueError(f'{path}: the third row of a pinhole matrix is 0 0 1, got '
                         f'{" ".join(f"{v:g}" for v in K[2])}')
    return K


def _check_size(path: str, shape: Tuple[int, int], K: np.ndarray, kpath: str) -> None:
    """Intrinsics files hold no image size; a principal point far from the image centre
    means the image and its intrinsics belong to different resolutions."""
    h, w = shape
    cx, cy = K[0, 2], K[1, 2]
    if not (0.3 * w < cx < 0.7 * w and 0.3 * h < cy < 0.7 * h):
        raise ValueError(f'{path}: image is {w}x{h} but {kpath} puts the principal point at '
                         f'({cx:g}, {cy:g}), the centre of an image of about '
                         f'{2 * cx + 1:.0f}x{2 * cy + 1:.0f}')


class ScanFolder:
    """A validated scan folder; iterate :meth:`batches` to get its frames.

    Args:
        scan_dir (str): The folder (layout in the module docstring).
        depth_scale (float): Depth units per metre. Defaults to 1000 (millimetres).
        max_depth (float, optional): Depth beyond this many metres is dropped.
        frame_step (int): Use every n-th frame. Defaults to 1.
        label_lut (ndarray, optional): Raw label id -> class look-up table (e.g. from
            :func:`~.scannet_io.read_label_ids`); without it label images hold class ids.
        with_labels (bool): Read the label images when there are some. Defaults to True.
    """

    def __init__(self, scan_dir: str, depth_scale: float = 1000.0,
                 max_depth: Optional[float] = None, frame_step: int = 1,
                 label_lut: Optional[np.ndarray] = None, with_labels: bool = True) -> None:
        if not osp.isdir(scan_dir):
            raise FileNotFoundError(f'{scan_dir}: scan folder not found')
        for name, value, ok in (
                ('depth scale (--depth-scale)', depth_scale, np.isfinite(depth_scale) and
                 depth_scale >= MIN_DEPTH_SCALE),
                ('max depth (--max-depth)', max_depth, max_depth is None or max_depth > 0),
                ('frame step (--frame-step)', frame_step, int(frame_step) == frame_step and
                 frame_step >= 1)):
            if not ok:
                need = ('an integer >= 1' if 'step' in name else
                        f'at least {MIN_DEPTH_SCALE} (units per metre: 1000 for millimetres)'
                        if 'scale' in name else 'positive')
                raise ValueError(f'{scan_dir}: {name} must be {need}, got {value}')
        self.root, self.depth_scale, self.max_depth = scan_dir, depth_scale, max_depth
        self.label_lut = label_lut
        folders = dict(depth=('depth', '.png'), color=('color', '.jpg'), pose=('pose', '.txt'))
        label_dir = next((d for d in LABEL_DIRS if osp.isdir(osp.join(scan_dir, d))), None)
        if label_dir and with_labels:
            folders['label'] = (label_dir, '.png')
        files = {}
        for key, (name, suffix) in folders.items():
            folder = osp.join(scan_dir, name)
            if not osp.isdir(folder):
                raise FileNotFoundError(f'{folder}: folder not found (a scan has color/, depth/, '
                                        'pose/ and intrinsic/)')
            files[key] = _frame_ids(folder, suffix)
            if not files[key]:
                raise ValueError(f'{folder}: no frames (<i>{suffix}) in the folder')
        ids = sorted(files['depth'])
        for key, found in files.items():
            name, suffix = folders[key]
            lacking, extra = sorted(set(ids) - set(found)), sorted(set(found) - set(ids))
            if lacking or extra:
                which = (f'no {name}/{lacking[0]}{suffix}' if lacking else
                         f'{name}/{extra[0]}{suffix} has no depth/{extra[0]}.png')
                raise ValueError(f'{osp.join(scan_dir, name)}: {len(found)} frames but depth/ '
                                 f'has {len(ids)} ({which})')
        self.ids = ids[::frame_step]
        self.files = files
        intr = osp.join(scan_dir, 'intrinsic')
        self.depth_k_path = osp.join(intr, 'intrinsic_depth.txt')
        self.color_k_path = osp.join(intr, 'intrinsic_color.txt')
        self.real_root = osp.realpath(scan_dir)
        for path in [self.depth_k_path, self.color_k_path, *(
                path for found in files.values() for path in found.values())]:
            resolved_inside(path, self.real_root)  # all of them before any is fused
        self.depth_k = read_intrinsics(self.depth_k_path, self.real_root)
        self.color_k = read_intrinsics(self.color_k_path, self.real_root)
        self._maps: Dict[Tuple[int, int], Tuple[np.ndarray, np.ndarray]] = {}
        self.depth_size = self._depth(self.ids[0]).shape
        self.colour_size = None
        self.colour_size = self.colour(self.ids[0])[1]
        self.skipped: List[int] = []

    @property
    def has_labels(self) -> bool:
        return 'label' in self.files

    def __len__(self) -> int:
        return len(self.ids)

    def check_poses(self) -> int:
        """Read every pose now (a bad one raises, naming its file); the count of finite ones.
        For tools that write outputs before they reach the last frame."""
        return sum(bool(np.isfinite(self.pose(i)).all()) for i in self.ids)

    # ------------------------------------------------------------------ one frame
    def pose(self, i: int) -> np.ndarray:
        """(4, 4) camera-to-world of frame ``i`` (possibly not finite: ScanNet's -inf)."""
        path = self.files['pose'][i]
        matrix = read_matrix(path, self.real_root)
        if matrix.shape != (4, 4):
            raise ValueError(f'{path}: a pose is a 4x4 camera-to-world matrix, got shape '
                             f'{matrix.shape}')
        if np.isfinite(matrix).all():  # non-finite poses are skipped, not refused
            rotation = matrix[:3, :3]
            off = float(np.abs(rotation.T @ rotation - np.eye(3)).max())
            if off > 1e-3 or not np.allclose(matrix[3], [0, 0, 0, 1], atol=1e-6):
                raise ValueError(f'{path}: a pose is a rigid camera-to-world matrix (rotation '
                                 f'and translation, last row 0 0 0 1); its rotation is off '
                                 f'orthonormal by {off:.3g}, last row '
                                 f'{" ".join(f"{v:g}" for v in matrix[3])}')
            if np.linalg.det(rotation) < 0:
                raise ValueError(f'{path}: the rotation has determinant '
                                 f'{np.linalg.det(rotation):.3g}: a reflection, not a camera '
                                 'pose (a flipped axis?)')
            distance = float(np.linalg.norm(matrix[:3, 3]))
            if distance > MAX_POSE_METRES:
                raise ValueError(f'{path}: the camera is {distance:.3g} m from the world '
                                 f'origin, beyond {MAX_POSE_METRES:g} m: a broken pose')
        return matrix

    def _depth(self, i: int) -> np.ndarray:
        path = self.files['depth'][i]
        raw = imread_checked(path, cv2.IMREAD_UNCHANGED, self.real_root)
        if raw is None:
            raise ValueError(f'{path}: cannot be decoded as an image')
        if raw.ndim != 2:
            raise ValueError(f'{path}: depth has {raw.shape[2]} channels; depth is a '
                             'single-channel 16-bit PNG (millimetres), not a colour image')
        if raw.dtype != np.uint16:
            raise ValueError(f'{path}: {raw.dtype} depth; depth is a 16-bit PNG (millimetres), '
                             'an 8-bit image cannot hold it')
        if hasattr(self, 'depth_size') and raw.shape != self.depth_size:
            first = self.files['depth'][self.ids[0]]
            raise ValueError(f'{path}: depth is {raw.shape[1]}x{raw.shape[0]}, {first} is '
                             f'{self.depth_size[1]}x{self.depth_size[0]}')
        _check_size(path, raw.shape, self.depth_k, self.depth_k_path)
        depth = raw.astype(np.float32) / np.float32(self.depth_scale)
        if self.max_depth is not None:
            depth[depth > self.max_depth] = 0
        return depth

    def _colour_map(self, shape) -> Tuple[np.ndarray, np.ndarray]:
        """Where each depth pixel's ray lands in a colour image of ``shape``."""
        if shape not in self._maps:
            h, w = self.depth_size
            v, u = np.mgrid[0:h, 0:w].astype(np.float32)
            kd, kc = self.depth_k, self.color_k
            map_x = (u - kd[0, 2]) / kd[0, 0] * kc[0, 0] + kc[0, 2]
            map_y = (v - kd[1, 2]) / kd[1, 1] * kc[1, 1] + kc[1, 2]
            self._maps[shape] = (map_x.astype(np.float32), map_y.astype(np.float32))
        return self._maps[shape]

    def colour(self, i: int) -> Tuple[np.ndarray, Tuple[int, int]]:
        path = self.files['color'][i]
        bgr = imread_checked(path, cv2.IMREAD_COLOR, self.real_root)
        if bgr is None:
            raise ValueError(f'{path}: cannot be decoded as an image')
        if self.colour_size is not None and bgr.shape[:2] != self.colour_size:
            first = self.files['color'][self.ids[0]]
            raise ValueError(f'{path}: colour is {bgr.shape[1]}x{bgr.shape[0]}, {first} is '
                             f'{self.colour_size[1]}x{self.colour_size[0]}')
        _check_size(path, bgr.shape[:2], self.color_k, self.color_k_path)
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        return cv2.remap(rgb, *self._colour_map(bgr.shape[:2]), cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE), bgr.shape[:2]

    def _labels(self, i: int, colour_shape) -> np.ndarray:
        path = self.files['label'][i]
        raw = imread_checked(path, cv2.IMREAD_UNCHANGED, self.real_root)
        if raw is None:
            raise ValueError(f'{path}: cannot be decoded as an image')
        if raw.ndim != 2 or raw.dtype not in (np.uint8, np.uint16):
            raise ValueError(f'{path}: a label image is a single-channel 8- or 16-bit PNG, got '
                             f'{raw.dtype} of shape {raw.shape}')
        if raw.shape == tuple(self.depth_size):
            pass
        elif raw.shape == tuple(colour_shape):
            raw = cv2.remap(raw, *self._colour_map(raw.shape), cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_REPLICATE)
        else:
            raise ValueError(f'{path}: labels are {raw.shape[1]}x{raw.shape[0]}; they must have '
                             f'the depth ({self.depth_size[1]}x{self.depth_size[0]}) or the '
                             f'colour ({colour_shape[1]}x{colour_shape[0]}) size')
        if self.label_lut is not None:
            return self.label_lut[raw]
        if raw.max() > 255:
            raise ValueError(f'{path}: label ids up to {raw.max()}; raw ScanNet ids need '
                             '--label-map scannetv2-labels.combined.tsv')
        return raw.astype(np.uint8)

    def read(self, i: int, colour: bool = True) -> Optional[Dict[str, np.ndarray]]:
        """Frame ``i``: ``depth`` (H, W) metres, ``rgb`` (H, W, 3) (unless ``colour`` is
        False), ``labels`` (H, W) when the scan has some, ``pose`` (4, 4); None when the pose
        is not finite."""
        pose = self.pose(i)
        if not np.isfinite(pose).all():
            return None
        frame = dict(pose=pose, depth=self._depth(i))
        if colour:
            frame['rgb'] = self.colour(i)[0]
        if self.has_labels:
            frame['labels'] = self._labels(i, self.colour_size)
        return frame

    def batches(self, batch_size: int = 8,
                colour: bool = True) -> Iterator[Dict[str, torch.Tensor]]:
        """Stacked frames with finite poses (``depth``, ``rgb``, ``labels``, ``pose``, ``ids``);
        the ids of skipped frames go to ``self.skipped``."""
        self.skipped = []
        batch: List[Dict] = []
        for i in self.ids:
            frame = self.read(i, colour)
            if frame is None:
                self.skipped.append(i)
                continue
            frame['id'] = i
            batch.append(frame)
            if len(batch) == batch_size:
                yield _stack(batch)
                batch = []
        if batch:
            yield _stack(batch)


def _stack(frames: Sequence[Dict]) -> Dict:
    out = {k: torch.from_numpy(np.stack([f[k] for f in frames]))
           for k in ('depth', 'rgb', 'labels', 'pose') if k in frames[0]}
    out['ids'] = [f['id'] for f in frames]
    return out



def write_scan(scan_dir: str, frames: Sequence[Dict[str, np.ndarray]], depth_k: np.ndarray,
               color_k: Optional[np.ndarray] = None, label_dir: str = 'label',
               depth_scale: float = 1000.0) -> None:
    """Write frames (``depth`` metres, ``rgb`` uint8, optional ``labels``, ``pose``) in the
    scan layout; colour at the depth resolution unless a frame's ``rgb`` has another size
    (then ``color_k`` gives its intrinsics)."""
    for sub in ('color', 'depth', 'pose', 'intrinsic'):
        os.makedirs(osp.join(scan_dir, sub), exist_ok=True)
    for name, K in (('depth', depth_k), ('color', depth_k if color_k is None else color_k)):
        matrix = np.eye(4)
        matrix[:3, :3] = K
        write_text_atomic(osp.join(scan_dir, 'intrinsic', f'intrinsic_{name}.txt'),
                          _matrix_text(matrix))
    for i, frame in enumerate(frames):
        depth = np.round(np.asarray(frame['depth']) * depth_scale)
        write_png_atomic(osp.join(scan_dir, 'depth', f'{i}.png'),
                         np.clip(depth, 0, 65535).astype(np.uint16))
        ok, buf = cv2.imencode('.jpg', np.ascontiguousarray(frame['rgb'][..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, 95])
        write_bytes_atomic(osp.join(scan_dir, 'color', f'{i}.jpg'), buf.tobytes())
        write_text_atomic(osp.join(scan_dir, 'pose', f'{i}.txt'), _matrix_text(frame['pose']))
        if frame.get('labels') is not None:
            write_png_atomic(osp.join(scan_dir, label_dir, f'{i}.png'), frame['labels'])


def _matrix_text(matrix: np.ndarray) -> str:
    return ''.join(' '.join(f'{v:.9g}' for v in row) + '\n' for row in np.asarray(matrix))


__all__ = ['ScanFolder', 'write_scan', 'read_intrinsics', 'read_matrix']
