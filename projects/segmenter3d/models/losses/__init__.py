from .chunked_cross_entropy_loss import ChunkedCrossEntropyLoss
from .panoramic_kd_loss import PanoramicKDLoss

__all__ = ['ChunkedCrossEntropyLoss', 'PanoramicKDLoss']
