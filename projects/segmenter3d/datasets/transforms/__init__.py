from .panorama_transforms import RandomPanoramaRoll
from .volume_transforms import (
                                LoadPanorama,
                                LoadVolume,
                                PackVolumeInputs,
                                PadVolume,
                                RandomFlipRotateZ,
                                RandomVolumeCrop,
                                VolumeColorJitter,
)

__all__ = ['LoadVolume', 'LoadPanorama', 'PadVolume', 'RandomVolumeCrop', 'RandomFlipRotateZ',
           'VolumeColorJitter', 'PackVolumeInputs', 'RandomPanoramaRoll']
