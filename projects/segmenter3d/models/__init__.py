from .backbones import *  # noqa: F401,F403
from .data_preprocessor import VolumeDataPreprocessor
from .decode_heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403

__all__ = ['VolumeDataPreprocessor']
