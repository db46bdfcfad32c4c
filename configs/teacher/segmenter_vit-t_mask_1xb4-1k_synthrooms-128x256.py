# CPU-sized embedded-default teacher: mmseg's Segmenter ViT-T/16 trained from scratch on the
# generated rooms' panoramas, resized to 128x256 (the distillation resolution of the demo; no
# download). `make demo` trains it.
_base_ = [
    'mmseg::segmenter/segmenter_vit-t_mask_8xb1-160k_ade20k-512x512.py',
    '../_base_/datasets/panorama_synthrooms.py'
]
custom_imports = dict(imports=['segmenter3d'], allow_failed_imports=False)
crop_size = (128, 256)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(img_size=crop_size, num_layers=6, drop_path_rate=0.0),
    decode_head=dict(num_classes=30, num_layers=1,
                     loss_decode=dict(avg_non_ignore=True)),
    test_cfg=dict(mode='whole'))
train_dataloader = {{_base_.pano_train_dataloader}}
val_dataloader = {{_base_.pano_val_dataloader}}
test_dataloader = {{_base_.pano_test_dataloader}}
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(_delete_=True, type='AdamW', lr=5e-4, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=100, end=1000, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1000, val_interval=500)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=500, max_keep_ckpts=1),
    visualization=dict(draw=False))
# fixed seed: the paper-table runs (studies/paper_tables.py) compare like with like
randomness = dict(seed=0)
