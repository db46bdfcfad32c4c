# 3DSeg-B on the CPU-sized schedule and data of 3dseg-t_1xb2-3k_synthrooms-32.py (paper tables).
_base_ = ['./3dseg-t_1xb2-3k_synthrooms-32.py']
model = dict(backbone=dict(arch='b'))  # same widths as T (48 -> 96), twice the stage-2 depth
