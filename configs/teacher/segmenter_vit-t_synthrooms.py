_base_ = ['./segmenter_vit-t_mask_1xb4-1k_synthrooms-128x256.py']
