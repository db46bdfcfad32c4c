# Recipe study row `t-p2-3k` (studies/recipe_study.py): the `t-p2-1k` row on three times the
# iterations: ../3dseg-t_1xb2-3k_synthrooms-32.py validated and checkpointed once, at the end
# (that config does so every 1 000 iterations), as every row of the study.
_base_ = ['../3dseg-t_1xb2-3k_synthrooms-32.py']
train_cfg = dict(val_interval=3000)
default_hooks = dict(checkpoint=dict(interval=3000))
