# KD study row `tau1-voxel` with the student's losses on 32^3 tiles of each room
# (kd_study.py --losses tiles32), the setting of the tables of record.
_base_ = ['./panokd_logits-tau1-voxel_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py']
model = dict(train_cfg=dict(mode='tiles', crop_size=32))
