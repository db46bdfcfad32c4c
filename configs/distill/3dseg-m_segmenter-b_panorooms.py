_base_ = ['./3dseg-m_segmenter-b_8xb1-45k_panorooms.py']
