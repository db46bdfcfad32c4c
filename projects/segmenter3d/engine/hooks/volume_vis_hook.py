# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Test-time hook writing predictions as pictures (PNG) and label volumes (.npz)."""
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from .drawing import panorama_figure, slice_figure, write_png


@HOOKS.register_module()
class VolumeVisualizationHook(Hook):
    """After each test iteration, per room: ``<show_dir>/<room>_slices.png`` (input | ground
    truth | prediction at three heights), ``<show_dir>/<room>_pano.png`` (the same seen from
    the room's panorama camera, when known), and ``<out_dir>/<room>.npz`` (predicted labels).
    """

    def __init__(self, show_dir: Optional[str] = None, out_dir: Optional[str] = None,
                 pano_size: Sequence[int] = (256, 512)) -> None:
        self.show_dir, self.out_dir, self.pano_size = show_dir, out_dir, tuple(pano_size)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        palette = runner.test_dataloader.dataset.metainfo['palette']
        for i, sample in enumerate(outputs):
            room = sample.metainfo.get('room_id', f'{batch_idx:05d}_{i}')
            pred = sample.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)
            if self.out_dir:
                os.makedirs(self.out_dir, exist_ok=True)
                np.savez_compressed(osp.join(self.out_dir, f'{room}.npz'), labels=pred)
            if not self.show_dir:
                continue
            volume = data_batch['inputs'][i].cpu().numpy()[:, :pred.shape[0], :pred.shape[1],
                                                           :pred.shape[2]]
            gt = (sample.gt_sem_seg.data[0].cpu().numpy()
                  if 'gt_sem_seg' in sample else None)
            write_png(osp.join(self.show_dir, f'{room}_slices.png'),
                      slice_figure(volume, gt, pred, palette))
            camera = sample.metainfo.get('camera')
            if camera is not None:
                layers = ({'ground truth': gt} if gt is not None else {})
                layers['prediction'] = pred
                write_png(osp.join(self.show_dir, f'{room}_pano.png'),
                          panorama_figure(volume, camera, layers, palette, self.pano_size))
