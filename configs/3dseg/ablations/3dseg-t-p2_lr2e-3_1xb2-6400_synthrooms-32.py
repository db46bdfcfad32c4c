# Learning-curve run of 3DSeg-T (studies/learning_curves.py, `baseline_study.py curves`):
# ../3dseg-t_1xb2-3k_synthrooms-32.py with its recipe tuned on the validation rooms, trained for
# the comparison's budget. The data roots and the seed are run inputs, as in every study row;
# tests/test_studies/test_curve_configs.py checks this file with them is the run the driver makes.
_base_ = ['../3dseg-t_1xb2-3k_synthrooms-32.py']
# tuned on the validation rooms: trial `lr0.002-wd0` (benchmarks/baselines.json; Adam without
# weight decay, the schedule's own)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
# the budget: CURVE_SECONDS (8 tuning trials of 800 x 0.162 s = 1036.8 s) over the model's
# idle-machine 0.162 s a step is 8 x 800 = 6 400 iterations, the decay stretched to them; the
# warm-up (WARMUP_SECONDS, 16.2 s) is the schedule's own 100 steps
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=6400, by_epoch=False),
]
# validation and a checkpoint every eighth of the budget; the last checkpoint (to resume) and
# the best one (to test) are all the run keeps
train_cfg = dict(max_iters=6400, val_interval=800)
default_hooks = dict(checkpoint=dict(interval=800, max_keep_ckpts=1))
# validations slide 32^3 windows without overlap (an eighth of the windows of stride 16); the
# checkpoint validation chose is tested at stride 16 (baseline_study.TEST_WINDOW)
model = dict(test_cfg=dict(crop_size=32, stride=32))
