# Learning-curve run of the sparse U-Net (studies/learning_curves.py, `baseline_study.py
# curves`): ../sparseunet_1xb2-3k_synthrooms-32.py with its recipe tuned on the validation rooms,
# trained for the comparison's budget. The data roots and the seed are run inputs, as in every
# study row; tests/test_studies/test_curve_configs.py checks this file with them is the run the
# driver makes.
_base_ = ['../sparseunet_1xb2-3k_synthrooms-32.py']
# tuned on the validation rooms: trial `lr0.003-bn` (benchmarks/baselines.json), the config's
# batch norm
optim_wrapper = dict(optimizer=dict(lr=3e-3))
# the budget: CURVE_SECONDS (8 tuning trials of 800 x 0.162 s = 1036.8 s) over the model's
# idle-machine 0.540 s a step is 8 x 240 = 1 920 iterations, the decay stretched to them; the
# warm-up is the same 16.2 s for every model (WARMUP_SECONDS): 30 steps
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=30, end=1920, by_epoch=False),
]
# validation and a checkpoint every eighth of the budget; the last checkpoint (to resume) and
# the best one (to test) are all the run keeps
train_cfg = dict(max_iters=1920, val_interval=240)
default_hooks = dict(checkpoint=dict(interval=240, max_keep_ckpts=1))
# validations slide 32^3 windows without overlap (an eighth of the windows of stride 16); the
# checkpoint validation chose is tested at stride 16 (baseline_study.TEST_WINDOW)
model = dict(test_cfg=dict(crop_size=32, stride=32))
