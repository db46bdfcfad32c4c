_base_ = ['./panokd_logits_segmenter-vit-b_3dseg-l_8xb1-45k_panorooms.py']
