# The paper's distillation (OpenMMLab distillation naming: algorithm_target_teacher_student):
# panoramic KD on logits from the fine-tuned Segmenter ViT-B/16 panorama teacher into the
# block-trained 3DSeg-L student, whole PanoRooms3D rooms at batch 1, 45 000 iterations,
# validation every 1 500. Checkpoints come from the command line:
#   tools/train.py THIS --cfg-options load_from=STUDENT.pth model.teacher_checkpoint=TEACHER.pth
_base_ = ['../3dseg/3dseg-l_panorooms.py']
model = dict(
    type='PanoDistiller',
    teacher_config='{{fileDirname}}/../teacher/segmenter_vit-b_mask_8xb1-80k_panorooms-512x1024.py',
    teacher_checkpoint=None,
    raycaster=dict(type='TSDFRaycaster', height=512, width=1024),
    # the official reduction (KL / K, averaged over hit pixels): see PanoramicKDLoss
    distill_loss=dict(type='PanoramicKDLoss', tau=20.0, loss_weight=1.0, class_mean=True),
    cache_teacher_logits=True)
room_pipeline = [
    dict(type='LoadVolume'),
    dict(type='LoadPanorama'),
    dict(type='PadVolume', size_divisor=128),  # rooms padded to multiples of 128, as the paper
    dict(type='PackVolumeInputs'),
]
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=room_pipeline))
# The official schedule: Adam at 1e-3 under MultiStepLR(milestones=[0, 2, 4, 6], gamma=0.5)
# stepped every 1 500 iterations, i.e. 5e-4 from the start, halved at 3k, 6k and 9k.
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, milestones=[3000, 6000, 9000], gamma=0.5)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=45000, val_interval=1500)
default_hooks = dict(checkpoint=dict(interval=1500))
