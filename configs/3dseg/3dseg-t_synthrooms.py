_base_ = ['./3dseg-t_1xb2-3k_synthrooms-32.py']
