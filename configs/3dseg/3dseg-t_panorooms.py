_base_ = ['./3dseg-t_8xb1-80k_panorooms-128.py']
