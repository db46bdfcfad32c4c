_base_ = ['./panokd_logits_segmenter-vit-b_3dseg-t_8xb1-45k_panorooms.py']
