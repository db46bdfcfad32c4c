# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Voxel IoU metric: mmseg's IoU/Acc over all voxels and over surface voxels only."""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS
from prettytable import PrettyTable


@METRICS.register_module()
class VolumeIoUMetric(BaseMetric):
    """Per-class IoU and Acc, aAcc, mIoU, mAcc over voxels (255 ignored), as mmseg's
    ``IoUMetric`` computes them, plus the same numbers on surface voxels (|tsdf| < 1), which
    empty space does not dominate. Every voxel of every room counts once.

    Args:
        ignore_index (int): Defaults to 255.
        surface_threshold (float): |tsdf| below this is surface. Defaults to 1.
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to None.
    """

    def __init__(self, ignore_index: int = 255, surface_threshold: float = 1.0,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ignore_index = ignore_index
        self.surface_threshold = surface_threshold

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        num_classes = len(self.dataset_meta['classes'])
        inputs = data_batch.get('inputs') if isinstance(data_batch, dict) else None
        for i, sample in enumerate(data_samples):
            pred = sample['pred_sem_seg']['data'].squeeze(0).cpu()
            label = sample['gt_sem_seg']['data'].squeeze(0).to(pred).cpu()
            areas = IoUMetric.intersect_and_union(pred, label, num_classes, self.ignore_index)
            surface = None
            if inputs is not None and inputs[i].shape[1:] == label.shape:
                mask = inputs[i][0].abs() < self.surface_threshold
                surface = IoUMetric.intersect_and_union(pred[mask], label[mask], num_classes,
                                                        self.ignore_index)
            self.results.append((areas, surface))

    @staticmethod
    def summarise(areas: List[tuple]) -> Dict[str, np.ndarray]:
        inter, union, pred, label = (torch.stack(x).sum(0) for x in zip(*areas))
        return dict(aAcc=(inter.sum() / label.sum()).item(), IoU=(inter / union).numpy(),
                    Acc=(inter / label).numpy())

    def compute_metrics(self, results: list) -> Dict[str, float]:
        logger: MMLogger = MMLogger.get_current_instance()
        classes = self.dataset_meta['classes']
        metrics = OrderedDict()
        table = PrettyTable()
        table.add_column('Class', list(classes))
        for tag, areas in (('', [r[0] for r in results]),
                           ('surface_', [r[1] for r in results if r[1] is not None])):
            if not areas:
                continue
            s = self.summarise(areas)
            metrics[f'{tag}aAcc'] = round(100 * s['aAcc'], 2)
            metrics[f'{tag}mIoU'] = round(100 * float(np.nanmean(s['IoU'])), 2)
            metrics[f'{tag}mAcc'] = round(100 * float(np.nanmean(s['Acc'])), 2)
            table.add_column(f'{tag}IoU', np.round(100 * s['IoU'], 2).tolist())
            table.add_column(f'{tag}Acc', np.round(100 * s['Acc'], 2).tolist())
        print_log('per class results:\n' + table.get_string(), logger=logger)
        return metrics
