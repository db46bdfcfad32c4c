from .crash_safe_checkpoint_hook import CrashSafeCheckpointHook
from .rng_state_hook import RNGStateHook
from .save_on_stop_hook import SaveOnStopHook
from .validate_on_resume_hook import ValidateOnResumeHook
from .volume_vis_hook import VolumeVisualizationHook

__all__ = [
    'CrashSafeCheckpointHook', 'RNGStateHook', 'SaveOnStopHook', 'ValidateOnResumeHook',
    'VolumeVisualizationHook'
]
