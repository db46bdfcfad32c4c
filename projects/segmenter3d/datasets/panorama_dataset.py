# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Equirectangular room panoramas for the 2D teacher (an mmseg ``BaseSegDataset``)."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ..taxonomy import PANOROOMS3D_CLASSES, PANOROOMS3D_PALETTE
from .image_size import check_image_pixels


@DATASETS.register_module()
class PanoramaDataset(BaseSegDataset):
    """``images/<split>/<room>{.png,.jpg}`` with ``annotations/<split>/<room>.png`` labels in the
    PanoRooms3D taxonomy (255 = no surface). Labels are used as they are (no zero reduction:
    class 0 is ``void``). An image or label map declaring more than 100 M pixels is refused
    from its header before mmseg's loader decodes it
    (:func:`segmenter3d.datasets.image_size.check_image_pixels`)."""
    METAINFO = dict(classes=PANOROOMS3D_CLASSES, palette=PANOROOMS3D_PALETTE)

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False, **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)

    def prepare_data(self, idx):
        info = self.get_data_info(idx)
        for key in ('img_path', 'seg_map_path'):
            if info.get(key):
                check_image_pixels(info[key])
        return self.pipeline(info)
