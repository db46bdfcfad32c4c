# Teacher study row `p16-8k+12k-balanced-pano2d-crop` (studies/teacher_study.py): the 8k
# teacher was still improving at its end, so this schedule of 12 000 iterations (a new warm-up
# and decay) starts from its weights (`load_from`, a run input of the driver: the checkpoint
# of the finished `p16-8k-balanced-pano2d-crop` row).
_base_ = ['./segmenter_vit-t-p16_mask_1xb4-8k_synthrooms+pano2d-256x128.py']
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=12000, by_epoch=False),
]
train_cfg = dict(max_iters=12000, val_interval=12000)
default_hooks = dict(checkpoint=dict(interval=12000))
