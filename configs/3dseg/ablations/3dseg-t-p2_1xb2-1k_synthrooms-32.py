# Recipe study row `t-p2-1k` (studies/recipe_study.py): 3DSeg-T at patch 2 (the embedded
# default, ../3dseg-t_1xb2-3k_synthrooms-32.py) for 1 000 iterations, the decay stretched to
# them, validated and checkpointed once, at the end, as every row of the study; compared at
# equal iterations with `unet-1k` and `b-p2-1k`, at equal wall-clock with `t-p4-4k`.
# Names of the study's rows spell out what the rows vary: the model and its patch size
# (`3dseg-t-p2`, `3dseg-t-p4`, `3dseg-b-p2`; the U-Net's base width, `unet3d-base16`) and the
# iterations (`1xb2-1k`); every row tests with 32^3 windows at stride 16.
_base_ = ['../3dseg-t_1xb2-3k_synthrooms-32.py']
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=1000, by_epoch=False),
]
train_cfg = dict(max_iters=1000, val_interval=1000)
default_hooks = dict(checkpoint=dict(interval=1000))
