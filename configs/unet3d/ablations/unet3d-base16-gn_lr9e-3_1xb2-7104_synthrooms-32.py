# Learning-curve run of the 3D U-Net (studies/learning_curves.py, `baseline_study.py curves`):
# ../unet3d_1xb2-3k_synthrooms-32.py (base width 16) with its recipe tuned on the validation
# rooms, trained for the comparison's budget. The data roots and the seed are run inputs, as in
# every study row; tests/test_studies/test_curve_configs.py checks this file with them is the
# run the driver makes.
_base_ = ['../unet3d_1xb2-3k_synthrooms-32.py']
# tuned on the validation rooms: trial `lr0.009-gn` (benchmarks/baselines.json; the edge rule's
# first step out from lr 3e-3), group norm of 8 groups instead of the config's batch norm
optim_wrapper = dict(optimizer=dict(lr=9e-3))
# the budget: CURVE_SECONDS (8 tuning trials of 800 x 0.162 s = 1036.8 s) over the model's
# idle-machine 0.146 s a step is 8 x 888 = 7 104 iterations, the decay stretched to them; the
# warm-up is the same 16.2 s for every model (WARMUP_SECONDS): 111 steps
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=111),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=111, end=7104, by_epoch=False),
]
# validation and a checkpoint every eighth of the budget; the last checkpoint (to resume) and
# the best one (to test) are all the run keeps
train_cfg = dict(max_iters=7104, val_interval=888)
default_hooks = dict(checkpoint=dict(interval=888, max_keep_ckpts=1))
# validations slide 32^3 windows without overlap (an eighth of the windows of stride 16); the
# checkpoint validation chose is tested at stride 16 (baseline_study.TEST_WINDOW)
model = dict(
    backbone=dict(norm_cfg=dict(type='GN', num_groups=8)),
    test_cfg=dict(crop_size=32, stride=32))
