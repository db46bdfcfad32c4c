# Copyright (c) 3D Segmenter authors. All rights reserved.
"""A scan folder (:class:`~.rgbd_scan.ScanFolder`) fused into a room: bounds from the valid
depth (or given), the memory a dense grid needs checked before it is allocated, frames fused
in batches (:class:`~segmenter3d.rendering.TSDFFusion`) with a progress bar."""
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from ..encoding import IGNORE_INDEX, TRUNCATION
from ..rendering.fusion import TSDFFusion, depth_bounds, grid_from_bounds
from .rgbd_scan import MAX_VOXELS, ScanFolder
from .room_io import VOXEL_SIZE_RANGE


def fuse_scan(scan: ScanFolder, voxel_size: float = 0.04,
              bounds: Optional[Sequence[float]] = None, num_classes: Optional[int] = None,
              batch_size: int = 8, device='cpu', progress: bool = True) -> Dict:
    """Fuse a scan into a room (:class:`~segmenter3d.rendering.TSDFFusion`).

    Args:
        scan (ScanFolder): The frames.
        voxel_size (float): Metres. Defaults to 0.04.
        bounds (Sequence[float], optional): (xmin, ymin, zmin, xmax, ymax, zmax) metres of the
            volume (voxel 0's centre at the minimum); by default the valid depth's extent plus
            the truncation band and a voxel.
        num_classes (int, optional): Classes voted on; by default the largest label id seen
            (below 255) plus one.
        batch_size (int): Frames fused at once. Defaults to 8.

    Returns:
        dict: the room arrays (numpy: ``tsdf``, ``rgb``, ``labels``, ``weight``,
        ``voxel_size``, ``origin``) and ``frames`` (fused), ``skipped`` (non-finite poses).
    """
    from mmengine.utils import ProgressBar
    _check_sizes(scan.root, voxel_size, batch_size)
    K = torch.from_numpy(scan.depth_k).float()
    given = bounds is not None
    if bounds is None or (scan.has_labels and num_classes is None):
        lo = hi = None
        top = -1
        for batch in scan.batches(batch_size, colour=False):
            found = depth_bounds(batch['depth'], K, batch['pose'].float())
            if found is not None:
                lo = found[0] if lo is None else torch.minimum(lo, found[0])
                hi = found[1] if hi is None else torch.maximum(hi, found[1])
            if 'labels' in batch:
                known = batch['labels'][batch['labels'] != IGNORE_INDEX]
                top = max(top, int(known.max()) if len(known) else -1)
        if bounds is None:
            if lo is None:
                raise ValueError(f'{scan.root}: no frame with a finite pose and valid depth '
                                 f'({len(scan.skipped)} of {len(scan)} poses not finite)')
            bounds = [*lo.tolist(), *hi.tolist()]
        if num_classes is None:
            num_classes = top + 1
    if len(bounds) != 6 or not all(np.isfinite(bounds)) or any(
            b <= a for a, b in zip(bounds[:3], bounds[3:])):
        raise ValueError(f'bounds must be xmin ymin zmin xmax ymax zmax with min < max, got '
                         f'{list(bounds)}')
    # the depth's extent gets the truncation band around it; given bounds are taken as they
    # are (voxel 0's centre at the minimum corner). Counted in floats first: a huge extent
    # must not wrap around in the integer shape.
    margin = 0.0 if given else (TRUNCATION + 1) * voxel_size
    span = [(b - a + 2 * margin) / voxel_size + 1 for a, b in zip(bounds[:3], bounds[3:])]
    if np.prod(span, dtype=np.float64) > MAX_VOXELS:
        where = 'the --bounds span' if given else 'the frames span (far depth outliers?)'
        raise ValueError(f'{scan.root}: {where} {[f"{n:.3g}" for n in span]} voxels of '
                         f'{voxel_size} m, more than {MAX_VOXELS:,}; pass --max-depth, '
                         '--bounds or a larger --voxel-size')
    shape, origin = grid_from_bounds(bounds[:3], bounds[3:], voxel_size, margin)
    _check_memory(scan.root, shape, num_classes if scan.has_labels else 0, device)
    fusion = TSDFFusion(shape, voxel_size, origin, TRUNCATION,
                        num_classes=num_classes if scan.has_labels else 0, device=device)
    bar = ProgressBar(len(scan)) if progress else None
    centres = []
    for batch in scan.batches(batch_size):
        fusion.integrate(batch['depth'], K, batch['pose'].float(), rgb=batch['rgb'],
                         labels=batch.get('labels'))
        centres.append(batch['pose'][:, :3, 3])
        if bar is not None:
            for _ in batch['ids']:
                bar.update()
    if fusion.frames == 0:
        raise ValueError(f'{scan.root}: no frame with a finite pose '
                         f'({len(scan.skipped)} of {len(scan)} poses not finite)')
    room = _fused_room(scan.root, fusion, bounds, torch.cat(centres).mean(0).numpy())
    room['frames'], room['skipped'] = fusion.frames, len(scan.skipped)
    return room


def available_bytes(device) -> Optional[int]:
    """Free memory of ``device`` in bytes (host RAM for the CPU), None when unknown."""
    device = torch.device(device)
    try:
        if device.type == 'cuda':
            return int(torch.cuda.mem_get_info(device)[0])
        if osp.isfile('/proc/meminfo'):  # MemAvailable counts the cache the kernel can drop
            with open('/proc/meminfo') as f:
                for line in f:
                    if line.startswith('MemAvailable:'):
                        return int(line.split()[1]) * 1024
        return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (ValueError, OSError, AttributeError, RuntimeError):
        return None


def _check_memory(root: str, shape: Sequence[int], num_classes: int, device) -> None:
    """Refuse a grid whose fusion would not fit: per voxel, TSDFFusion keeps 24 bytes of sums
    and weights and 2 bytes per class of votes, and the result about 16 more."""
    need = float(np.prod(shape, dtype=np.float64)) * (24 + 2 * num_classes + 16)
    free = available_bytes(device)
    if free is not None and need > free:
        raise ValueError(f'{root}: a volume of {tuple(shape)} voxels with {num_classes} label '
                         f'classes needs about {need / 2**30:.1f} GB, {free / 2**30:.1f} GB are '
                         f'free on {device}; pass smaller --bounds, --max-depth or a larger '
                         '--voxel-size')


def _check_sizes(root: str, voxel_size: float, batch_size: int) -> None:
    low, high = VOXEL_SIZE_RANGE
    if not (np.isfinite(voxel_size) and low <= voxel_size <= high):
        raise ValueError(f'{root}: voxel size (--voxel-size) must be between {low:g} and '
                         f'{high:g} metres, got {voxel_size}')
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f'{root}: batch size (--batch-size) must be an integer >= 1, got '
                         f'{batch_size}')


def _fused_room(root: str, fusion: TSDFFusion, bounds: Sequence[float],
                scanner: np.ndarray) -> Dict[str, np.ndarray]:
    """The fusion's arrays with ``voxel_size`` and, when the mean scanner position
    ``scanner`` (3,) metres lies in the grid, ``camera`` (voxel coordinates); given bounds may
    leave it out, and a room's camera must lie in the room (else its centre is used)."""
    room = {k: v.cpu().numpy() for k, v in fusion.result().items()}
    if not room['weight'].any():  # e.g. --bounds away from every depth pixel
        raise ValueError(f'{root}: no depth of the {fusion.frames} frames falls inside the '
                         f'bounds {[round(float(b), 3) for b in bounds]} (metres): the room '
                         'would be unobserved everywhere')
    room['voxel_size'] = np.float32(fusion.voxel_size)
    camera = ((scanner - room['origin']) / fusion.voxel_size).astype(np.float32)
    if ((camera >= 0) & (camera <= np.array(room['tsdf'].shape) - 1)).all():
        room['camera'] = camera
    return room
