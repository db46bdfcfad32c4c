_base_ = ['./3dseg-t_2xb2-3k_synthrooms-32.py']
