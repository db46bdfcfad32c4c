default_scope = 'mmseg'
custom_imports = dict(imports=['segmenter3d'], allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
# figures of VolumeVisualizationHook (tools/test.py --show-dir) also go to these backends
visualizer = dict(type='mmengine.Visualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
tta_model = None
# torch's random state travels with checkpoints: --resume continues exactly (drop path too);
# a run resumed at a validation point validates it (its checkpoint predates the validation);
# a run stopped with SIGTERM saves the iteration it finished and exits with status 143
custom_hooks = [dict(type='RNGStateHook'), dict(type='ValidateOnResumeHook'),
                dict(type='SaveOnStopHook')]
