_base_ = ['./panokd_logits_segmenter-vit-b_3dseg-m_8xb1-45k_panorooms.py']
