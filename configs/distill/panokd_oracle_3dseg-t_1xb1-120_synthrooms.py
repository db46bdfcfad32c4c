# What correct labels at the hits add: the label panoramas take the teacher's
# place (AnnotationOracleDistiller, a teacher right at every pixel it sees), at temperature 1 on
# every hit. Compare with the no-KD control (3dseg-t_1xb1-120_synthrooms-room.py) and with a
# trained teacher's run (panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py) at the
# same iterations: studies/kd_study.py --rows control oracle tau1.
# The block-trained student comes from the command line: --cfg-options load_from=CKPT.
_base_ = ['./panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py']
model = dict(
    type='AnnotationOracleDistiller',
    teacher_config=None,
    smoothing=0.1,
    distill_loss=dict(type='PanoramicKDLoss', tau=1.0, loss_weight=1.0, class_mean=False))
train_dataloader = dict(dataset=dict(
    data_prefix=dict(volume_path='volumes', img_path='images/training',
                     seg_map_path='annotations/training'),
    pipeline=[
        dict(type='LoadVolume'),
        dict(type='LoadPanorama', with_annotation=True),
        dict(type='PackVolumeInputs'),
    ]))
