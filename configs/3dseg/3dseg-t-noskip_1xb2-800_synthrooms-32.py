# Ablation of the paper tables (studies/paper_tables.py --iters 800): 3dseg-t_1xb2-800 without
# the decoder's skip connection to the raw TSDF+RGB input.
_base_ = ['./3dseg-t_1xb2-800_synthrooms-32.py']
model = dict(decode_head=dict(skip=False))
