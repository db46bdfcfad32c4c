# KD study row `oracle-voxel` (studies/kd_study.py): the oracle splatted onto the voxels its
# hits read and each voxel fitted on its own (kd_space='voxel'): what correct labels at every
# voxel a ray reaches add at this budget.
_base_ = ['../panokd_oracle_3dseg-t_1xb1-120_synthrooms.py']
model = dict(kd_space='voxel')
