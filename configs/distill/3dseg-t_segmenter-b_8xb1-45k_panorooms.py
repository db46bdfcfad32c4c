# The paper's distillation for 3DSeg-T: as 3DSeg-L, with its student.
_base_ = ['./3dseg-l_segmenter-b_8xb1-45k_panorooms.py']
model = dict(backbone=dict(arch='t'), decode_head=dict(in_channels=96))
load_from = 'work_dirs/3dseg-t_8xb1-80k_panorooms-128/iter_80000.pth'
