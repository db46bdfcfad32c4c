from .atomic_local_backend import AtomicLocalBackend
from .hooks import CrashSafeCheckpointHook, RNGStateHook, VolumeVisualizationHook

__all__ = [
    'AtomicLocalBackend', 'CrashSafeCheckpointHook', 'RNGStateHook', 'VolumeVisualizationHook'
]
