# KD study row `tau1` (studies/kd_study.py): the KD term at temperature 1 (the teacher's own
# probabilities) without the 1 / K: the per-pixel KL averaged over the hits, on the cross
# entropy's scale. The other tau1 rows extend this one.
_base_ = ['../panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py']
model = dict(distill_loss=dict(tau=1.0, class_mean=False))
