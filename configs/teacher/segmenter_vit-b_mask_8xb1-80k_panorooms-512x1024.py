# The paper's 2D teacher: mmseg's Segmenter (ViT-B/16, mask transformer head) fine-tuned on
# 512x1024 PanoRooms3D panoramas from ImageNet-21k weights (see docs/distillation.md,
# "Teacher weights").
_base_ = [
    'mmseg::segmenter/segmenter_vit-b_mask_8xb1-160k_ade20k-512x512.py',
    '../_base_/datasets/panorama_panorooms.py'
]
custom_imports = dict(imports=['segmenter3d'], allow_failed_imports=False)
crop_size = (512, 1024)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    # ImageNet-21k ViT-B/16 converted with mmseg's tools/model_converters/vit2mmseg.py
    pretrained='checkpoints/vit_base_p16_384.pth',
    backbone=dict(img_size=crop_size),
    decode_head=dict(num_classes=30),
    test_cfg=dict(mode='whole'))
train_dataloader = {{_base_.pano_train_dataloader}}
val_dataloader = {{_base_.pano_val_dataloader}}
test_dataloader = {{_base_.pano_test_dataloader}}
train_cfg = dict(type='IterBasedTrainLoop', max_iters=80000, val_interval=8000)
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=80000,
                        by_epoch=False)]
