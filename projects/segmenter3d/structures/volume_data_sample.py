# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Data samples for dense volumes (mmseg's PixelData only holds 2D maps)."""
import torch
from mmengine.structures import BaseDataElement


class VolumeData(BaseDataElement):
    """A dense per-voxel field; ``data`` has shape (C, D, H, W)."""

    def __setattr__(self, name: str, value) -> None:
        if name == 'data' and isinstance(value, torch.Tensor) and value.dim() != 4:
            raise ValueError(f'VolumeData.data must have shape (C, D, H, W), got '
                             f'{tuple(value.shape)}')
        super().__setattr__(name, value)

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape[1:])


class VolumeDataSample(BaseDataElement):
    """One room or block: ``gt_sem_seg``, ``pred_sem_seg`` and ``seg_logits`` volumes.

    Metainfo commonly holds ``room_id``, ``voxel_size`` (m), ``origin`` (m, world position of
    voxel (0, 0, 0)), ``ori_shape`` (D, H, W) and ``volume_path``.
    """

    def _field(name: str, doc: str):  # noqa: N805 - property factory

        def getter(self):
            return getattr(self, f'_{name}')

        def setter(self, value):
            self.set_field(value, f'_{name}', dtype=VolumeData)

        def deleter(self):
            del self[f'_{name}']

        return property(getter, setter, deleter, doc)

    gt_sem_seg = _field('gt_sem_seg', 'Ground-truth labels, (1, D, H, W), 255 = ignore.')
    pred_sem_seg = _field('pred_sem_seg', 'Predicted labels, (1, D, H, W).')
    seg_logits = _field('seg_logits', 'Class logits, (K, D, H, W).')
    del _field
