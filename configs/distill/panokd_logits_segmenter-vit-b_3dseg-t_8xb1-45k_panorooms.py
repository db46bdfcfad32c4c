# The paper's distillation for 3DSeg-T: as 3DSeg-L, with its student.
_base_ = ['./panokd_logits_segmenter-vit-b_3dseg-l_8xb1-45k_panorooms.py']
model = dict(backbone=dict(arch='t'), decode_head=dict(in_channels=96))
