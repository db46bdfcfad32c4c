from .generate import generate_dataset
from .release import fit_room, save_release_room
from .room import Room, generate_room
from .scan import simulate_scan
from .views import eye_level_cameras, render_views
from .writer import render_panorama, save_room_volume, write_room

__all__ = ['Room', 'generate_room', 'generate_dataset', 'render_panorama', 'save_room_volume',
           'simulate_scan', 'write_room', 'eye_level_cameras', 'render_views', 'fit_room',
           'save_release_room']
