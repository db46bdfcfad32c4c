# KD study row `tau1-voxel+pano2d` (studies/kd_study.py, labelled setting): the `tau1+pano2d`
# row with the teacher splatted onto the voxels its hits read, each voxel fitted on its own.
_base_ = ['./panokd_logits-tau1_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms+pano2d.py']
model = dict(kd_space='voxel')
