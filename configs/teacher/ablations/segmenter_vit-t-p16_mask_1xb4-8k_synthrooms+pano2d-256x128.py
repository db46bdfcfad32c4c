# Teacher study rows `p16-8k-balanced-pano2d-crop` and `p16-20k+8k-balanced-pano2d-crop`
# (studies/teacher_study.py): the native-resolution teacher with the panorama-only rooms
# (../segmenter_vit-t_mask_1xb4-4k_synthrooms+pano2d-256x128.py, the `-4k-` row) on twice the
# schedule. The `20k+8k` row runs the same schedule again from the weights of the 20 000
# iterations before it (`load_from`, a run input of the driver).
_base_ = ['../segmenter_vit-t_mask_1xb4-4k_synthrooms+pano2d-256x128.py']
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=8000, by_epoch=False),
]
train_cfg = dict(max_iters=8000, val_interval=8000)
default_hooks = dict(checkpoint=dict(interval=8000))
