# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Augmentation of equirectangular panoramas (the 2D teacher's pipeline)."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


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
