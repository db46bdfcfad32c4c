_base_ = ['./3dseg-t_segmenter-t_1xb1-360_synthrooms.py']
