# KD study row `oracle-voxel` with the student's losses on 32^3 tiles of each room
# (kd_study.py --losses tiles32).
_base_ = ['./panokd_oracle-voxel_3dseg-t_1xb1-120_synthrooms.py']
model = dict(train_cfg=dict(mode='tiles', crop_size=32))
