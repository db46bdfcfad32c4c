# Recipe study row `unet-1k` (studies/recipe_study.py): the 3D U-Net baseline (base width 16,
# ../unet3d_1xb2-3k_synthrooms-32.py) for the 1 000 iterations of 3DSeg-T's `t-p2-1k` row,
# the decay stretched to them, validated and checkpointed once, at the end. Names as in
# configs/3dseg/ablations/3dseg-t-p2_1xb2-1k_synthrooms-32.py.
_base_ = ['../unet3d_1xb2-3k_synthrooms-32.py']
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=1000, by_epoch=False),
]
train_cfg = dict(max_iters=1000, val_interval=1000)
default_hooks = dict(checkpoint=dict(interval=1000))
