_base_ = ['./unet3d_1xb2-3k_synthrooms-32.py']
