# CPU-sized block training: Adam at 1e-3, 100 iterations of warm-up, then linear decay to
# 1e-5 over 3 000 iterations; validation and a checkpoint every 1 000.
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=3000, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=3000, val_interval=1000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CrashSafeCheckpointHook', by_epoch=False, interval=1000,
                    max_keep_ckpts=2, save_best='mIoU', rule='greater',
                    backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VolumeVisualizationHook', draw=False))
# fixed seed: the paper-table runs (tools/analysis/paper_tables.py) compare like with like
randomness = dict(seed=0)
