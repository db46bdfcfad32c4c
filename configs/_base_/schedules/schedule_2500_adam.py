# The demo's block training (`make demo`: 714 s of its 20-minute run on 2 CPU cores):
# schedule_3k_adam.py cut to 2 500 iterations, the same 100-iteration warm-up, the linear decay
# ending at the run's end; validation and a checkpoint at the end only.
_base_ = ['./schedule_3k_adam.py']
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=2500, by_epoch=False),
]
train_cfg = dict(max_iters=2500, val_interval=2500)
default_hooks = dict(checkpoint=dict(interval=2500))
