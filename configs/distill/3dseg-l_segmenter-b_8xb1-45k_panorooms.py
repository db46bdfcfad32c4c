# The paper's distillation: whole PanoRooms3D rooms (batch 1), the block-trained 3DSeg-L
# student and the fine-tuned Segmenter ViT-B/16 panorama teacher; 45 000 iterations, validation
# every 1 500.
_base_ = ['../3dseg/3dseg-l_panorooms.py']
model = dict(
    type='PanoDistiller',
    teacher_config='configs/teacher/segmenter_vit-b_mask_8xb1-80k_panorooms-512x1024.py',
    teacher_checkpoint='work_dirs/segmenter_vit-b_mask_8xb1-80k_panorooms-512x1024/iter_80000.pth',
    raycaster=dict(type='TSDFRaycaster', height=512, width=1024),
    distill_loss=dict(type='PanoramicKDLoss', tau=20.0, loss_weight=1.0),
    cache_teacher_logits=True)
load_from = 'work_dirs/3dseg-l_8xb1-80k_panorooms-128/iter_80000.pth'
room_pipeline = [
    dict(type='LoadVolume'),
    dict(type='LoadPanorama'),
    dict(type='PadVolume', size_divisor=128),  # rooms padded to multiples of 128, as the paper
    dict(type='PackVolumeInputs'),
]
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=room_pipeline))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=45000)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=45000, val_interval=1500)
default_hooks = dict(checkpoint=dict(interval=1500))
