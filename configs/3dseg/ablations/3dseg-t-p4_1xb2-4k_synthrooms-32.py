# Recipe study row `t-p4-4k` (studies/recipe_study.py): 3DSeg-T at patch 4 for 4 000
# iterations, about the wall-clock of the 1 000 of `t-p2-1k` (a step is about 4 times
# cheaper). A 32^3 block is then 8^3 tokens, one unshifted window in stage 1: shifted windows
# never train (see ../../_base_/models/3dseg-t_synthrooms-32.py).
_base_ = ['./3dseg-t-p2_1xb2-1k_synthrooms-32.py']
model = dict(backbone=dict(patch_size=4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=4000, by_epoch=False),
]
train_cfg = dict(max_iters=4000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
