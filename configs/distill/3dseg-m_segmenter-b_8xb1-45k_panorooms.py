# The paper's distillation for 3DSeg-M: as 3DSeg-L, with its student.
_base_ = ['./3dseg-l_segmenter-b_8xb1-45k_panorooms.py']
model = dict(backbone=dict(arch='m'), decode_head=dict(in_channels=128))
load_from = 'work_dirs/3dseg-m_8xb1-80k_panorooms-128/iter_80000.pth'
