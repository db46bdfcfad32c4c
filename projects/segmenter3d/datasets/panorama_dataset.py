# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Equirectangular room panoramas for the 2D teacher (an mmseg ``BaseSegDataset``)."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

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
