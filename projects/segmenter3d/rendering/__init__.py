from .camera import room_camera
from .fusion import TSDFFusion
from .fusion_bounds import depth_bounds, grid_from_bounds
from .panorama import (
                       cube_face_directions,
                       cube_to_equirect,
                       directions_to_cube,
                       directions_to_equirect,
                       equirect_directions,
)
from .projection import HitProjector, surface_coverage
from .raycaster import RayHits, TSDFRaycaster, pinhole_directions, sample_volume

__all__ = [
    'HitProjector', 'surface_coverage', 'RayHits', 'TSDFRaycaster', 'sample_volume',
    'equirect_directions', 'directions_to_equirect', 'cube_face_directions', 'directions_to_cube',
    'cube_to_equirect', 'room_camera', 'TSDFFusion', 'depth_bounds', 'grid_from_bounds',
    'pinhole_directions'
]
