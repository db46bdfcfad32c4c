# Copyright (c) 3D Segmenter authors. All rights reserved.
"""ScanNet v2 scenes converted by tools/data/scannet_to_volume.py (20 benchmark classes)."""
from mmseg.registry import DATASETS

from ..taxonomy import SCANNET20_CLASSES, SCANNET20_PALETTE
from .volume_dataset import VolumeDataset


@DATASETS.register_module()
class ScanNetVolumeDataset(VolumeDataset):
    """:class:`VolumeDataset` with the ScanNet 20-class benchmark taxonomy.

    Layout: ``volumes/<scene>.npz`` (our format, 4 cm voxels, label 255 off the surface band
    and on classes outside the benchmark), ``vertices/<scene>.npz`` (the voxel of every mesh
    vertex and its ground truth, for the point-level ScanNet protocol),
    ``splits/{training,validation,test}.txt``.
    """
    METAINFO = dict(classes=SCANNET20_CLASSES, palette=SCANNET20_PALETTE)

    def __init__(self, data_prefix: dict = dict(volume_path='volumes', vertex_path='vertices'),
                 **kwargs) -> None:
        super().__init__(data_prefix=data_prefix, **kwargs)
