# 3DSeg-B of the paper tables (studies/paper_tables.py --iters 800): 3dseg-t_1xb2-800 with
# twice the stage-2 depth, as 3dseg-b_1xb2-3k_synthrooms-32.py is to its T.
_base_ = ['./3dseg-t_1xb2-800_synthrooms-32.py']
model = dict(backbone=dict(arch='b'))
