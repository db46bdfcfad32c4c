# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Test-time hook drawing predictions (PNG) and writing label volumes (.npz)."""
from typing import Optional, Sequence

import numpy as np
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...fileio import path_inside, save_npz_atomic
from ...visualization.drawing import panorama_figure, slice_figure, write_png


@HOOKS.register_module()
class VolumeVisualizationHook(Hook):
    """Pictures and label volumes of test predictions, like mmseg's ``SegVisualizationHook``.

    Every ``interval``-th test iteration, per room: with ``draw``, the figures
    ``<room>_slices.png`` (input | ground truth | prediction at three heights) and
    ``<room>_pano.png`` (seen from the room's panorama camera, when known) go to ``show_dir``
    and to the run's visualizer backends (``add_image``); with ``out_dir``, the predicted
    labels go to ``<out_dir>/<room>_pred.npz``. Every file is written atomically.

    Args:
        draw (bool): Draw the figures. Defaults to True.
        interval (int): Draw every this many test iterations (label volumes are written for
            every room). Defaults to 1.
        show_dir (str, optional): Folder of the figures. Defaults to None (visualizer only).
        out_dir (str, optional): Folder of the predicted label volumes. Defaults to None.
        pano_size (Sequence[int]): Panorama figure height, width. Defaults to (256, 512).
    """

    def __init__(self,
                 draw: bool = True,
                 interval: int = 1,
                 show_dir: Optional[str] = None,
                 out_dir: Optional[str] = None,
                 pano_size: Sequence[int] = (256, 512)) -> None:
        if int(interval) < 1:
            raise ValueError(f'VolumeVisualizationHook: interval must be >= 1, got {interval}')
        self.draw, self.interval = draw, int(interval)
        self.show_dir, self.out_dir, self.pano_size = show_dir, out_dir, tuple(pano_size)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        meta = runner.test_dataloader.dataset.metainfo
        palette, classes = meta['palette'], meta.get('classes')
        draw = self.draw and self.every_n_inner_iters(batch_idx, self.interval)
        for i, sample in enumerate(outputs):
            room = sample.metainfo.get('room_id', f'{batch_idx:05d}_{i}')
            pred = sample.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)
            if self.out_dir:
                # room names come from split files: a link inside the folder cannot lead out
                save_npz_atomic(path_inside(self.out_dir, f'{room}_pred.npz', 'room'),
                                labels=pred)
            if not draw:
                continue
            volume = data_batch['inputs'][i].cpu().numpy()[:, :pred.shape[0], :pred.shape[1],
                                                           :pred.shape[2]]
            gt = (sample.gt_sem_seg.data[0].cpu().numpy()
                  if 'gt_sem_seg' in sample else None)
            figures = {'slices': slice_figure(volume, gt, pred, palette, class_names=classes)}
            camera = sample.metainfo.get('camera')
            if camera is not None:
                layers = ({'ground truth': gt} if gt is not None else {})
                layers['prediction'] = pred
                figures['pano'] = panorama_figure(volume, camera, layers, palette,
                                                  self.pano_size, class_names=classes)
            for kind, image in figures.items():
                if self.show_dir:
                    write_png(path_inside(self.show_dir, f'{room}_{kind}.png', 'room'), image)
                runner.visualizer.add_image(f'{room}_{kind}', image, step=batch_idx)
