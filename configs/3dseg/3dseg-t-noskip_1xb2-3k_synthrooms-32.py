# Ablation: 3DSeg-T without the decoder's skip connection to the raw TSDF+RGB input.
_base_ = ['./3dseg-t_1xb2-3k_synthrooms-32.py']
model = dict(decode_head=dict(skip=False))
