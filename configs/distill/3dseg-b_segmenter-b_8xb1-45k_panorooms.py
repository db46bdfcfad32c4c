# The paper's distillation for 3DSeg-B: as 3DSeg-L, with its student.
_base_ = ['./3dseg-l_segmenter-b_8xb1-45k_panorooms.py']
model = dict(backbone=dict(arch='b'), decode_head=dict(in_channels=96))
load_from = 'work_dirs/3dseg-b_8xb1-80k_panorooms-128/iter_80000.pth'
