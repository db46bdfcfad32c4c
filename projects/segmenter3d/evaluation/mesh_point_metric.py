# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Point-level mIoU on mesh vertices: the ScanNet benchmark protocol for volumetric models."""
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmseg.registry import METRICS


def vertex_predictions(pred: np.ndarray, vertex_voxel: np.ndarray) -> np.ndarray:
    """The class of the voxel each vertex falls in: (X, Y, Z) labels, (N, 3) -> (N, )."""
    if len(vertex_voxel) and ((vertex_voxel < 0).any() or
                              (vertex_voxel.max(0) >= np.array(pred.shape)).any()):
        raise ValueError(f'vertex voxels reach {vertex_voxel.max(0).tolist()}, outside the '
                         f'prediction of shape {tuple(pred.shape)} (another voxel size?)')
    return pred[vertex_voxel[:, 0], vertex_voxel[:, 1], vertex_voxel[:, 2]]


def load_vertex_table(path: str) -> Dict[str, np.ndarray]:
    """``voxel`` (N, 3) int and ``labels`` (N, ) of a converted scene, validated."""
    from ..datasets.room_io import MAX_VOXELS, npz_headers
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: vertex table not found (written by '
                                'tools/data/scannet_to_volume.py)')
    headers = npz_headers(path)  # sizes from the headers: nothing decompressed yet
    for key in ('voxel', 'labels'):
        shape, dtype = headers.get(key, ((0, ), np.dtype(np.int64)))
        if dtype.kind not in 'iu' or int(np.prod(shape, dtype=np.float64)) > MAX_VOXELS:
            raise ValueError(f"{path}: field '{key}' declares {dtype} {shape}; integers, at "
                             f'most {MAX_VOXELS:,} values (refused before decompressing)')
    with np.load(path, allow_pickle=False) as npz:
        table = {k: npz[k] for k in ('voxel', 'labels') if k in headers}
    voxel = table.get('voxel')
    if voxel is None or voxel.ndim != 2 or voxel.shape[1] != 3:
        raise ValueError(f"{path}: field 'voxel' must be (N, 3) voxel indices")
    if len(voxel) and voxel.min() < 0:
        raise ValueError(f"{path}: field 'voxel' holds negative voxel indices")
    if 'labels' in table and table['labels'].shape != (len(voxel), ):
        raise ValueError(f"{path}: field 'labels' has shape {table['labels'].shape}, "
                         f'expected ({len(voxel)},)')
    return table


@METRICS.register_module()
class MeshPointIoUMetric(BaseMetric):
    """Each mesh vertex takes the predicted class of its voxel; per-class IoU, mIoU and
    accuracies over all vertices of all scenes come from mmdet3d's ``seg_eval``, as the ScanNet
    point-cloud benchmarks report them. Needs ``vertex_path`` in the data samples' metainfo
    (:class:`ScanNetVolumeDataset` sets it) and whole-room predictions.

    Args:
        ignore_index (int): Vertex label to skip. Defaults to 255.
        collect_device (str): Defaults to 'cpu'.
        prefix (str, optional): Defaults to None.
    """

    def __init__(self, ignore_index: int = 255, collect_device: str = 'cpu',
                 prefix: Optional[str] = None, **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ignore_index = ignore_index

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            path = sample.get('vertex_path')
            if path is None:
                raise ValueError('MeshPointIoUMetric: data sample has no vertex_path; use '
                                 "ScanNetVolumeDataset or data_prefix=dict(vertex_path=...)")
            table = load_vertex_table(path)
            pred = sample['pred_sem_seg']['data'].squeeze(0).cpu().numpy()
            if (table['voxel'].max(0) >= np.array(pred.shape)).any():
                raise ValueError(f"{path}: field 'voxel' indexes outside the predicted volume "
                                 f'{pred.shape}')
            if pred.max() >= len(self.dataset_meta['classes']):
                raise ValueError(f'MeshPointIoUMetric: predicted class {pred.max()} for {path} '
                                 f"outside the {len(self.dataset_meta['classes'])} classes")
            labels = table.get('labels')
            if labels is None:
                raise ValueError(f"{path}: field 'labels' missing: the scene is not annotated")
            self.results.append((labels.astype(np.uint8),
                                 vertex_predictions(pred, table['voxel']).astype(np.uint8)))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        # mmdet3d is imported here only: importing it pulls its whole model zoo.
        from mmdet3d.evaluation.functional import seg_eval
        classes = self.dataset_meta['classes']
        out = seg_eval([r[0] for r in results], [r[1] for r in results],
                       dict(enumerate(classes)), self.ignore_index,
                       logger=MMLogger.get_current_instance())
        return OrderedDict(point_mIoU=round(100 * out['miou'], 2),
                           point_aAcc=round(100 * out['acc'], 2),
                           point_mAcc=round(100 * out['acc_cls'], 2))
