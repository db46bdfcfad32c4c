# The paper-table block training (studies/paper_tables.py --iters 800): schedule_3k_adam.py cut
# to 800 iterations, the same 100-iteration warm-up, the linear decay ending at the run's end;
# validation and a checkpoint at the end only.
_base_ = ['./schedule_3k_adam.py']
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=800, by_epoch=False),
]
train_cfg = dict(max_iters=800, val_interval=800)
default_hooks = dict(checkpoint=dict(interval=800))
