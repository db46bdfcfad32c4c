# KD study row `tau1-voxel` (studies/kd_study.py): the `tau1` row with the teacher splatted
# onto the voxels its hits read and each voxel fitted on its own (PanoDistiller's
# kd_space='voxel'), instead of comparing the student's rendered pixel with the teacher's.
_base_ = ['./panokd_logits-tau1_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py']
model = dict(kd_space='voxel')
