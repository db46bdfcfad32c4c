# Teacher study rows `p16-4k` and `p16-4k-balanced` (studies/teacher_study.py): the `p16-1k`
# teacher on four times the schedule (the decay stretched to the end): what more iterations
# on the same panoramas buy.
_base_ = ['./segmenter_vit-t-p16_mask_1xb4-1k_synthrooms-128x256.py']
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=4000, by_epoch=False),
]
train_cfg = dict(max_iters=4000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
