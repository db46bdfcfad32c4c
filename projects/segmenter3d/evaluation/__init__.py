from .volume_iou_metric import VolumeIoUMetric

__all__ = ['VolumeIoUMetric']
