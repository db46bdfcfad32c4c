# Copyright (c) 3D Segmenter authors. All rights reserved.
"""A 3D prediction seen in 2D: the labels a student predicted, rendered into the rooms'
panoramas and scored on the panoramas' own ground truth.

This puts a 3D student and the 2D teacher on the same pixels: the teacher's test mIoU
(``tools/test.py`` on the panorama dataset) and this one share the annotation PNGs and the
ignore rule (255: no surface), and the rays are cast exactly as the generator cast them to
render those annotations (same raycaster, camera and size; labels read just behind the hit).
"""
import os.path as osp
from typing import Dict

import mmcv
import numpy as np
import torch
from mmengine.utils import track_iter_progress
from mmseg.evaluation.metrics import IoUMetric

from segmenter3d.encoding import IGNORE_INDEX
from segmenter3d.evaluation import VolumeIoUMetric
from segmenter3d.rendering import TSDFRaycaster, room_camera


def rendered_panorama_miou(pred_dir: str, data_root: str, split: str = 'test',
                           num_classes: int = 30, progress: bool = False) -> Dict[str, float]:
    """mIoU / aAcc (percent) of ``<pred_dir>/<room>_pred.npz`` label volumes (what
    ``tools/test.py --out`` writes) rendered from each room's camera, against
    ``<data_root>/annotations/<split>/<room>.png``, over the rooms of ``splits/<split>.txt``.

    Raises:
        FileNotFoundError: a split file, prediction or annotation is missing (named).
        ValueError: a prediction's shape differs from its room's.
    """
    from segmenter3d.datasets import load_room
    split_file = osp.join(data_root, 'splits', f'{split}.txt')
    if not osp.isfile(split_file):
        raise FileNotFoundError(f'{split_file}: split file not found')
    names = open(split_file).read().split()
    areas = []
    for name in (track_iter_progress(names) if progress else names):
        pred_path = osp.join(pred_dir, f'{name}_pred.npz')
        gt_path = osp.join(data_root, 'annotations', split, f'{name}.png')
        for path in (pred_path, gt_path):
            if not osp.isfile(path):
                raise FileNotFoundError(f'{path}: not found')
        room = load_room(osp.join(data_root, 'volumes', f'{name}.npz'), num_classes,
                         with_labels=False)
        with np.load(pred_path, allow_pickle=False) as f:
            pred = f['labels']
        if pred.shape != room['tsdf'].shape:
            raise ValueError(f'{pred_path}: labels have shape {pred.shape}, the room '
                             f"{room['tsdf'].shape}")
        gt = torch.from_numpy(mmcv.imread(gt_path, flag='unchanged').astype(np.int64))
        camera = torch.from_numpy(room_camera(pred.shape, room.get('camera')))
        caster = TSDFRaycaster(*gt.shape)
        hits = caster.cast(torch.from_numpy(room['tsdf']), camera)
        seen = caster.project(torch.from_numpy(pred)[None].float(), hits.behind(camera),
                              mode='nearest', fill=IGNORE_INDEX)[0].round().long()
        areas.append(IoUMetric.intersect_and_union(seen, gt, num_classes, IGNORE_INDEX))
    summary = VolumeIoUMetric.summarise(areas)  # the voxel metric's reduction, on pixels
    return dict(mIoU=round(100 * float(np.nanmean(summary['IoU'])), 2),
                aAcc=round(100 * summary['aAcc'], 2), rooms=len(names))
