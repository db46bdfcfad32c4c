# CPU-sized distillation on the generated rooms: the block-trained 3DSeg-T student learns from
# the embedded ViT-T panorama teacher, whole rooms at batch 1 (`make demo` runs it).
_base_ = ['../3dseg/3dseg-t_synthrooms.py']
model = dict(
    type='PanoDistiller',
    teacher_config='configs/teacher/segmenter_vit-t_synthrooms.py',
    teacher_checkpoint='work_dirs/demo/teacher/iter_1000.pth',
    raycaster=dict(type='TSDFRaycaster', height=128, width=256),
    distill_loss=dict(type='PanoramicKDLoss', tau=20.0, loss_weight=1.0),
    cache_teacher_logits=True)
load_from = 'work_dirs/demo/3dseg-t/iter_3000.pth'  # the block-trained student
room_pipeline = [
    dict(type='LoadVolume'),
    dict(type='LoadPanorama'),
    dict(type='PackVolumeInputs'),
]
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=room_pipeline))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=360)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=360, val_interval=120)
default_hooks = dict(checkpoint=dict(interval=120, max_keep_ckpts=1))
