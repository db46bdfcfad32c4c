# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Stacks volumes into a batch, padding with empty space."""
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor
from mmseg.registry import MODELS

from ..encoding import EMPTY_INPUT, IGNORE_INDEX, pad_input


@MODELS.register_module()
class VolumeDataPreprocessor(BaseDataPreprocessor):
    """Moves volumes to the device and stacks them, padding each to the batch's largest size
    (optionally rounded up to ``size_divisor``) with empty space in the network's encoding
    (tsdf channel -3, colour -1; ``segmenter3d.encoding.EMPTY_INPUT``), label ``seg_pad_val``.

    Args:
        pad_values (Sequence[float]): One pad value per input channel; its length is the
            number of channels the data must have. Defaults to ``(-3, -1, -1, -1)``.
        seg_pad_val (int): Label of padded voxels. Defaults to 255.
        size_divisor (int, optional): Round padded sizes up to a multiple. Defaults to None.
    """

    def __init__(self,
                 pad_values: Sequence[float] = EMPTY_INPUT,
                 seg_pad_val: int = IGNORE_INDEX,
                 size_divisor: Optional[int] = None,
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking)
        self.pad_values = tuple(float(v) for v in pad_values)
        self.seg_pad_val = seg_pad_val
        self.size_divisor = size_divisor

    @property
    def num_channels(self) -> int:
        return len(self.pad_values)

    def forward(self, data: Dict[str, Any], training: bool = False) -> Dict[str, Any]:
        data = self.cast_data(data)
        inputs: List[torch.Tensor] = data['inputs']
        samples = data.get('data_samples')
        for i, vol in enumerate(inputs):
            if vol.dim() != 4 or vol.shape[0] != self.num_channels:
                raise ValueError(f'VolumeDataPreprocessor: input {i} has shape '
                                 f'{tuple(vol.shape)}; expected ({self.num_channels}, D, H, W) '
                                 f'to match pad_values {self.pad_values}')
        size = [max(v.shape[d] for v in inputs) for d in (1, 2, 3)]
        if self.size_divisor:
            size = [-(-s // self.size_divisor) * self.size_divisor for s in size]
        batch = torch.stack([pad_input(v.float(), size, self.pad_values) for v in inputs])
        if samples is not None:
            for vol, sample in zip(inputs, samples):
                sample.set_metainfo(dict(batch_input_shape=tuple(size),
                                         padded_from=tuple(vol.shape[1:])))
                if 'gt_sem_seg' in sample:
                    sample.gt_sem_seg.data = pad_input(sample.gt_sem_seg.data, size,
                                                       (self.seg_pad_val, ))
        return dict(inputs=batch, data_samples=samples)
