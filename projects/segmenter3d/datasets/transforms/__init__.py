from .volume_transforms import (LoadVolume, PackVolumeInputs, PadVolume, RandomFlipRotateZ,
                                RandomVolumeCrop, VolumeColorJitter)

__all__ = ['LoadVolume', 'PadVolume', 'RandomVolumeCrop', 'RandomFlipRotateZ',
           'VolumeColorJitter', 'PackVolumeInputs']
