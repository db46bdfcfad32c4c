# Recipe study row `unet-3k` (studies/recipe_study.py): the `unet-1k` row on three times the
# iterations: ../unet3d_1xb2-3k_synthrooms-32.py validated and checkpointed once, at the end
# (that config does so every 1 000 iterations), as 3DSeg-T's `t-p2-3k` row.
_base_ = ['../unet3d_1xb2-3k_synthrooms-32.py']
train_cfg = dict(val_interval=3000)
default_hooks = dict(checkpoint=dict(interval=3000))
