from .panoramic_kd_loss import PanoramicKDLoss

__all__ = ['PanoramicKDLoss']
