_base_ = ['./3dseg-t_segmenter-b_8xb1-45k_panorooms.py']
