# CPU-sized block training: the paper's Adam schedule (schedule_80k_adam.py) shortened to
# 3 000 iterations: 100 of warm-up, then linear decay to 1e-5; validation and a checkpoint
# every 1 000.
_base_ = ['./schedule_80k_adam.py']
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=3000, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=3000, val_interval=1000)
default_hooks = dict(checkpoint=dict(interval=1000, max_keep_ckpts=2))
# fixed seed: the paper-table runs (studies/paper_tables.py) compare like with like
randomness = dict(seed=0)
