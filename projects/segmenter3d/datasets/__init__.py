from .cameras import cameras_path, load_cameras, view_name
from .mesh_to_volume import mesh_to_volume
from .panorama_dataset import PanoramaDataset
from .room_io import load_room, room_to_input
from .scannet_dataset import ScanNetVolumeDataset
from .scannet_io import read_label_map, read_scene, scannet_scene_to_volume
from .transforms import *  # noqa: F401,F403
from .transforms import RandomPanoramaRoll
from .volume_dataset import VolumeDataset

__all__ = [
    'VolumeDataset', 'ScanNetVolumeDataset', 'PanoramaDataset', 'RandomPanoramaRoll',
    'load_room', 'room_to_input', 'mesh_to_volume', 'read_label_map', 'read_scene',
    'scannet_scene_to_volume', 'load_cameras', 'cameras_path', 'view_name'
]
