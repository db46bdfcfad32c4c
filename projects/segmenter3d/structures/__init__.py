from .volume_data_sample import VolumeData, VolumeDataSample

__all__ = ['VolumeData', 'VolumeDataSample']
