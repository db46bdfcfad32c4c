_base_ = ['./unet3d_8xb1-80k_panorooms-128.py']
