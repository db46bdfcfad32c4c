from .atomic_local_backend import AtomicLocalBackend
from .hooks import (
    CrashSafeCheckpointHook,
    RNGStateHook,
    ValidateOnResumeHook,
    VolumeVisualizationHook,
)

__all__ = [
    'AtomicLocalBackend', 'CrashSafeCheckpointHook', 'RNGStateHook', 'ValidateOnResumeHook',
    'VolumeVisualizationHook'
]
