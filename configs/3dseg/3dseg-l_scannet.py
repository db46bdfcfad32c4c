_base_ = ['./3dseg-l_8xb1-80k_scannet-128.py']
