from .panorama_dataset import PanoramaDataset, RandomPanoramaRoll
from .room_io import load_room, room_to_input
from .transforms import *  # noqa: F401,F403
from .volume_dataset import VolumeDataset

__all__ = ['VolumeDataset', 'PanoramaDataset', 'RandomPanoramaRoll', 'load_room', 'room_to_input']
