# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Labels back on the frames of a scan: each pixel takes the label of the voxel its ray hits.

A room fused from a scan (``tools/data/fuse_rgbd.py``) lives in the frames' world, so each
frame's depth camera can be cast through the room's TSDF (a pinhole
:meth:`~segmenter3d.rendering.TSDFRaycaster.cast_pinhole`); the voxel just behind the first
surface hit gives the pixel its label, as the panoramas read labels.
"""
import os.path as osp
from typing import Dict, Optional, Sequence

import cv2
import numpy as np
import torch

from ..datasets.rgbd_scan import ScanFolder
from ..encoding import IGNORE_INDEX
from ..fileio import write_bytes_atomic, write_png_atomic
from ..rendering import TSDFRaycaster
from ..visualization.drawing import with_legend


def frame_labels(tsdf: np.ndarray, labels: np.ndarray, intrinsics: np.ndarray,
                 pose: np.ndarray, size, voxel_size: float, origin) -> np.ndarray:
    """(H, W) uint8: the label of the voxel at each pixel's first hit, 255 where no hit.

    Args:
        tsdf (ndarray): (X, Y, Z) voxel units, positive in free space.
        labels (ndarray): (X, Y, Z) per-voxel labels (e.g. a prediction).
        intrinsics (ndarray): (3, 3) pinhole matrix of the frame.
        pose (ndarray): (4, 4) camera-to-world (metres, OpenCV axes).
        size (tuple): (H, W) of the frame.
        voxel_size (float): Metres per voxel.
        origin: World position of the centre of voxel (0, 0, 0).
    """
    caster = TSDFRaycaster()
    out = caster.render_pinhole(torch.from_numpy(np.ascontiguousarray(tsdf, np.float32)),
                                intrinsics, pose, tuple(size), voxel_size, origin,
                                labels=torch.from_numpy(np.ascontiguousarray(labels)))
    return out['labels'].numpy()


def overlay(rgb: np.ndarray, labels: np.ndarray, palette: Sequence[Sequence[int]],
            alpha: float = 0.5) -> np.ndarray:
    """(H, W, 3) uint8: colour blended with the palette colour of each labelled pixel."""
    lut = np.zeros((256, 3), np.float32)
    lut[:len(palette)] = np.asarray(palette, np.float32)
    blend = rgb.astype(np.float32) * (1 - alpha) + lut[labels] * alpha
    out = np.where((labels != IGNORE_INDEX)[..., None], blend, rgb.astype(np.float32))
    return out.round().astype(np.uint8)


def label_frames(room: Dict, labels: np.ndarray, scan_dir: str, out_dir: str,
                 palette: Sequence[Sequence[int]], progress: bool = True,
                 scan: Optional[ScanFolder] = None,
                 nyu40: Optional[np.ndarray] = None,
                 class_names: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """Write ``out_dir/label/<i>.png`` (class ids, 255 where the ray hits nothing) and
    ``out_dir/overlay/<i>.jpg`` for every frame of ``scan_dir`` whose pose is finite; with
    ``nyu40`` (class -> NYU40 id, for a ScanNet model) also ``out_dir/label-nyu40/<i>.png``,
    ScanNet's 2D label format (NYU40 ids, 0 unannotated). With ``class_names`` an overlay has
    the key of the classes in its frame under it, as every picture the tools write.

    ``room`` needs ``tsdf``, ``voxel_size`` and ``origin`` in the frames' world (as
    ``fuse_rgbd.py`` writes them). Returns the counts of ``written`` and ``skipped`` frames.
    """
    from mmengine.utils import ProgressBar
    if 'origin' not in room or 'voxel_size' not in room:
        raise ValueError('the room has no origin or voxel_size: labelling frames needs a room '
                         'fused from them (tools/data/fuse_rgbd.py)')
    scan = scan or ScanFolder(scan_dir, with_labels=False)
    bar = ProgressBar(len(scan)) if progress else None
    written = skipped = 0
    for i in scan.ids:
        pose = scan.pose(i)
        if not np.isfinite(pose).all():
            skipped += 1
        else:
            pred = frame_labels(room['tsdf'], labels, scan.depth_k, pose, scan.depth_size,
                                float(room['voxel_size']), room['origin'])
            write_png_atomic(osp.join(out_dir, 'label', f'{i}.png'), pred)
            if nyu40 is not None:
                lut = np.zeros(256, np.uint8)
                lut[:len(nyu40)] = nyu40
                write_png_atomic(osp.join(out_dir, 'label-nyu40', f'{i}.png'), lut[pred])
            rgb, _ = scan.colour(i)
            picture = with_legend(overlay(rgb, pred, palette), palette, class_names, [pred])
            ok, buf = cv2.imencode('.jpg', picture[..., ::-1])
            write_bytes_atomic(osp.join(out_dir, 'overlay', f'{i}.jpg'), buf.tobytes())
            written += 1
        if bar is not None:
            bar.update()
    return dict(written=written, skipped=skipped)
