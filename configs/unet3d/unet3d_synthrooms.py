_base_ = ['./unet3d_2xb2-3k_synthrooms-32.py']
