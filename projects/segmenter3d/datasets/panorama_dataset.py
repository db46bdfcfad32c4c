# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Equirectangular room panoramas for the 2D teacher (an mmseg ``BaseSegDataset``)."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS, TRANSFORMS

from ..taxonomy import PANOROOMS3D_CLASSES, PANOROOMS3D_PALETTE


@DATASETS.register_module()
class PanoramaDataset(BaseSegDataset):
    """``images/<split>/<room>{.png,.jpg}`` with ``annotations/<split>/<room>.png`` labels in the
    PanoRooms3D taxonomy (255 = no surface). Labels are used as they are (no zero reduction:
    class 0 is ``void``)."""
    METAINFO = dict(classes=PANOROOMS3D_CLASSES, palette=PANOROOMS3D_PALETTE)

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False, **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)


@TRANSFORMS.register_module()
class RandomPanoramaRoll(BaseTransform):
    """Rotate an equirectangular panorama about the vertical axis: a circular shift of columns,
    applied alike to the image and its label map (the scene is unchanged, only the heading)."""

    def __init__(self, prob: float = 1.0) -> None:
        self.prob = prob

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.prob:
            return results
        shift = np.random.randint(results['img'].shape[1])
        results['img'] = np.roll(results['img'], shift, axis=1)
        for key in results.get('seg_fields', []):
            results[key] = np.roll(results[key], shift, axis=1)
        return results
