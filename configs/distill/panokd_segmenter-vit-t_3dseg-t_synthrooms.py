_base_ = ['./panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py']
