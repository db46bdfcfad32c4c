# KD study row `tau1+pano2d` (studies/kd_study.py, labelled setting): the `tau1` term on the
# labelled rooms and on panorama-only rooms without 3D labels, where the KD term alone trains
# (the two data roots and the number of panorama-only rooms come from the study's flags).
_base_ = ['../panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms+pano2d.py']
model = dict(distill_loss=dict(tau=1.0, class_mean=False))
