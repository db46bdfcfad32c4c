# CPU-sized distillation on the generated rooms: the block-trained 3DSeg-T student learns from
# the embedded ViT-T panorama teacher, whole rooms at batch 1 (`make demo` runs it). Everything
# but the teacher is the room-level fine-tuning config it inherits. Checkpoints come from the
# command line: --cfg-options load_from=STUDENT model.teacher_checkpoint=TEACHER.
_base_ = ['../3dseg/3dseg-t_1xb1-120_synthrooms-room.py']
model = dict(
    type='PanoDistiller',
    teacher_config='{{fileDirname}}/../teacher/segmenter_vit-t_synthrooms.py',
    teacher_checkpoint=None,
    raycaster=dict(type='TSDFRaycaster', height=128, width=256),
    distill_loss=dict(type='PanoramicKDLoss', tau=20.0, loss_weight=1.0, class_mean=True),
    cache_teacher_logits=True)
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadVolume'),
    dict(type='LoadPanorama'),
    dict(type='PackVolumeInputs'),
]))
