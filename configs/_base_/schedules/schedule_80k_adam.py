# The paper's block training: Adam, lr 1e-3 (batch 8 = 8 GPUs x 1 block).
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=1000, end=80000, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=80000, val_interval=8000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # a run killed while saving never leaves a truncated checkpoint (atomic_local) nor loses
    # the one it had (CrashSafeCheckpointHook deletes old checkpoints after the new is saved)
    checkpoint=dict(type='CrashSafeCheckpointHook', by_epoch=False, interval=8000, max_keep_ckpts=3,
                    save_best='mIoU', rule='greater', backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VolumeVisualizationHook', draw=False))
