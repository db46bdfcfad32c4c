_base_ = ['./segmenter_vit-t_mask_2xb2-2k_synthrooms-256x512.py']
