# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Generates a whole procedural room set: parallel, resumable, with a progress bar."""
import json
import os
import os.path as osp
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.utils import track_parallel_progress, track_progress

from ..fileio import write_text_atomic
from .room import WALL_THICKNESS, generate_room
from .scan import fused_scan, simulate_scan
from .writer import SPLITS, is_complete, room_paths, write_room


def assign_splits(num_rooms: int, ratios: Sequence[float]) -> List[str]:
    """Split of each room index: the first rooms train, then validation, then test."""
    if len(ratios) != 3 or min(ratios) < 0 or sum(ratios) <= 0:
        raise ValueError(f'split ratios must be 3 non-negative numbers, got {ratios}')
    ratios = np.asarray(ratios, float) / sum(ratios)
    counts = np.floor(ratios * num_rooms).astype(int)
    counts[0] += num_rooms - counts.sum()
    return [s for s, c in zip(SPLITS, counts) for _ in range(c)]


def room_seed(seed: int, index: int) -> int:
    return seed * 1_000_003 + index


def _make_one(task: Tuple[int, str], out_dir: str, seed: int, voxel_size: float,
              pano_size: Tuple[int, int], max_extent: Optional[float],
              scan_cameras: int, scan_frames: int = 0, depth_noise: float = 0.0) -> Dict:
    import torch
    torch.set_num_threads(1)  # parallelism comes from the worker processes
    index, split = task
    name = f'room_{index:05d}'
    if is_complete(out_dir, name, split):
        labels = np.load(room_paths(out_dir, name, split)['volume'])['labels']
        return dict(name=name, split=split, skipped=True,
                    hist=np.bincount(labels.ravel(), minlength=256)[:256],
                    voxels=np.int64(labels.size))
    room = generate_room(room_seed(seed, index), voxel_size=voxel_size, max_extent=max_extent)
    if scan_cameras > 0:
        room = simulate_scan(room, scan_cameras, seed=room_seed(seed, index))
    scan = {}
    if scan_frames > 0:
        # the panorama stays the exact room's view from its centre, as the paper renders it
        exact = room
        room = fused_scan(room, scan_frames, seed=room_seed(seed, index),
                          depth_noise=depth_noise)
        scan = {k: room.meta[k] for k in ('unobserved', 'unobserved_surface',
                                          'render_seconds', 'fusion_seconds')}
        stats = write_room(room, out_dir, name, split, pano_size, pano_room=exact)
    else:
        stats = write_room(room, out_dir, name, split, pano_size)
    return dict(name=name, split=split, skipped=False, scan=scan, **stats)


MAX_ROOMS = 99_999  # five-digit names: room_00000 .. room_99998
MAX_GRID_VOXELS = 50_000_000  # the largest room at 1.6 cm; the paper's 4 cm is 3.4 M
MAX_SCAN_VIEWS = 1_000  # cameras or frames a room: every frame is held until it is fused
MIN_PANO_SIZE = (8, 16)
LARGEST_ROOM = (8.0, 8.0, 3.0)  # metres: the generator's footprint and height at most


def check_pano_size(pano_size: Sequence[int], what: str = '--pano-size') -> None:
    """A panorama of H x W pixels, H >= 8, W >= 16 and at most what the datasets read
    (:data:`~segmenter3d.datasets.image_size.MAX_PIXELS`).

    Raises:
        ValueError: naming ``what`` and the size.
    """
    from ..datasets.image_size import MAX_PIXELS
    size = list(pano_size)
    ok = len(size) == 2 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                for v in size)
    if not ok or size[0] < MIN_PANO_SIZE[0] or size[1] < MIN_PANO_SIZE[1] \
            or size[0] * size[1] > MAX_PIXELS:
        raise ValueError(f'{what} must be H W, at least {MIN_PANO_SIZE[0]} x '
                         f'{MIN_PANO_SIZE[1]} and at most {MAX_PIXELS:,} pixels (what the '
                         f'datasets read), got {size}')


def check_options(num_rooms: int, seed: int, voxel_size: float, pano_size: Sequence[int],
                  split_ratios: Sequence[float], workers: int, max_extent: Optional[float],
                  scan_cameras: int, scan_frames: int, depth_noise: float) -> None:
    """Every generator option, before anything is written: a bad value is named with its
    command-line flag (a bad one used to surface as a numpy error, a multi-GB allocation or
    a folder the corrected rerun refused).

    Raises:
        ValueError: naming the option and the value.
    """
    def integer(value, low, high, flag):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or not low <= value <= high:
            raise ValueError(f'{flag} must be an integer from {low:,} to {high:,}, got {value}')

    def number(value, low, high, flag, unit=''):
        if not (isinstance(value, (int, float, np.number)) and np.isfinite(value)
                and low <= value <= high):
            raise ValueError(f'{flag} must be a finite number from {low:g} to {high:g}{unit}, '
                             f'got {value}')

    integer(num_rooms, 1, MAX_ROOMS, '--num-rooms')
    integer(seed, 0, 2**63 - 1, '--seed')
    integer(workers, 1, 1024, '--workers')
    integer(scan_cameras, 0, MAX_SCAN_VIEWS, '--scan-cameras')
    integer(scan_frames, 0, MAX_SCAN_VIEWS, '--scan-frames')
    number(voxel_size, 0.001, 1.0, '--voxel-size', ' metres')
    number(depth_noise, 0.0, 1.0, '--depth-noise', ' metres')
    if max_extent is not None:
        number(max_extent, 2.0, 1e3, '--max-extent', ' metres')
    if len(split_ratios) != 3 or not all(np.isfinite(r) and r >= 0 for r in split_ratios) \
            or sum(split_ratios) <= 0:
        raise ValueError(f'--split must be 3 finite non-negative ratios, not all 0, got '
                         f'{list(split_ratios)}')
    check_pano_size(pano_size)
    sides = [min(side, max_extent or side) + 2 * WALL_THICKNESS for side in LARGEST_ROOM[:2]]
    sides.append(LARGEST_ROOM[2] + 2 * WALL_THICKNESS)  # the grid holds the wall shell too
    voxels = int(np.prod([side / voxel_size for side in sides]))
    if voxels > MAX_GRID_VOXELS:
        raise ValueError(f'--voxel-size {voxel_size:g}: the largest room would have about '
                         f'{voxels:,} voxels, more than {MAX_GRID_VOXELS:,}; use a larger voxel '
                         'size or a smaller --max-extent')


PARAMETERS_FILE = 'generator.json'
SCANS_FILE = 'scans.json'


def check_parameters(out_dir: str, params: Dict) -> None:
    """Rooms are only ever added to a folder generated with the same parameters.

    The first run records them in ``<out_dir>/generator.json``; a rerun with other ones
    (voxel size, panorama size, seed, ...) would keep the old rooms and call the set
    complete, so it is refused, naming what differs. A folder without that file is written
    into only when it is empty or new: anything there was not made here.
    """
    path = osp.join(out_dir, PARAMETERS_FILE)
    if osp.isfile(path):
        with open(path) as f:
            old = json.load(f)
        diff = {k: (old.get(k), v) for k, v in params.items() if old.get(k) != v}
        if diff:
            raise ValueError(f'{path}: {out_dir} holds rooms generated with other parameters ('
                             + ', '.join(f'{k}: {a} there, {b} now' for k, (a, b) in
                                         diff.items()) + '); use another --out')
        return
    if osp.isdir(out_dir) and os.listdir(out_dir):  # not ours: its files are not ours either
        raise ValueError(f'{out_dir}: not empty and holds no {PARAMETERS_FILE}, so it was not '
                         'made by this generator (its panoramas and split files would be '
                         'overwritten); use an empty or new --out')
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise ValueError(f'{out_dir}: exists and is not a folder; use another --out')
    os.makedirs(out_dir, exist_ok=True)
    write_text_atomic(path, json.dumps(params, indent=1))


def generate_dataset(out_dir: str,
                     num_rooms: int,
                     seed: int = 0,
                     voxel_size: float = 0.04,
                     pano_size: Tuple[int, int] = (512, 1024),
                     split_ratios: Sequence[float] = (0.8, 0.1, 0.1),
                     workers: int = 1,
                     max_extent: Optional[float] = None,
                     scan_cameras: int = 0,
                     scan_frames: int = 0,
                     depth_noise: float = 0.0) -> Dict:
    """Write ``num_rooms`` rooms and split files under ``out_dir``; returns a summary.

    ``scan_cameras > 0`` simulates scanning with that many eye-level panoramic cameras
    (:func:`simulate_scan`); ``scan_frames > 0`` renders that many RGB-D + label frames per
    room and stores their fusion (:func:`fused_scan`, with Gaussian ``depth_noise`` metres),
    recording each room's unobserved share and fusion time in ``<out_dir>/scans.json``;
    0 keeps the complete room.
    """
    check_options(num_rooms, seed, voxel_size, pano_size, split_ratios, workers, max_extent,
                  scan_cameras, scan_frames, depth_noise)
    workers = min(workers, num_rooms, os.cpu_count() or 1)  # more processes only contend
    splits = assign_splits(num_rooms, split_ratios)
    check_parameters(out_dir, dict(
        num_rooms=num_rooms, seed=seed, voxel_size=voxel_size, pano_size=list(pano_size),
        split_ratios=[float(r) for r in split_ratios], max_extent=max_extent,
        scan_cameras=scan_cameras, **(dict(scan_frames=scan_frames, depth_noise=depth_noise)
                                       if scan_frames else {})))
    tasks = list(enumerate(splits))
    func = partial(_make_one, out_dir=out_dir, seed=seed, voxel_size=voxel_size,
                   pano_size=tuple(pano_size), max_extent=max_extent,
                   scan_cameras=scan_cameras, scan_frames=scan_frames, depth_noise=depth_noise)
    if workers > 1:
        results = track_parallel_progress(func, tasks, nproc=workers)
    else:
        results = track_progress(func, tasks)
    os.makedirs(osp.join(out_dir, 'splits'), exist_ok=True)
    for split in SPLITS:
        names = [r['name'] for r in results if r['split'] == split]
        write_text_atomic(osp.join(out_dir, 'splits', f'{split}.txt'),
                          ''.join(f'{n}\n' for n in names))
    if scan_frames:
        _record_scans(out_dir, results)
    hist = np.sum([r['hist'] for r in results], axis=0)
    return dict(rooms=len(results), skipped=sum(r['skipped'] for r in results),
                voxels=int(sum(r['voxels'] for r in results)), hist=hist,
                per_split={s: splits.count(s) for s in SPLITS})


def _record_scans(out_dir: str, results: List[Dict]) -> Dict:
    """Merge this run's per-room scan records into ``scans.json`` (a resumed run keeps those
    of the rooms it skipped)."""
    path = osp.join(out_dir, SCANS_FILE)
    records = {}
    if osp.isfile(path):
        with open(path) as f:
            records = json.load(f).get('rooms', {})
    records.update({r['name']: r['scan'] for r in results if r.get('scan')})
    rooms = [records[n] for n in sorted(records)]
    summary = dict(rooms=len(rooms))
    for key in ('unobserved', 'unobserved_surface', 'render_seconds', 'fusion_seconds'):
        values = [r[key] for r in rooms if key in r]
        summary[f'mean_{key}'] = float(np.mean(values)) if values else None
    write_text_atomic(path, json.dumps(dict(summary=summary, rooms=records), indent=1))
    return summary
