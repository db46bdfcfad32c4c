from .mesh_point_metric import MeshPointIoUMetric, load_vertex_table, vertex_predictions
from .volume_iou_metric import VolumeIoUMetric

__all__ = ['VolumeIoUMetric', 'MeshPointIoUMetric', 'load_vertex_table', 'vertex_predictions',
           'rendered_panorama_miou']
