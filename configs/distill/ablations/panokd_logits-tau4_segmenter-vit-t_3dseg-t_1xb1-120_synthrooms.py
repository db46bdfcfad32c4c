# KD study row `tau4` (studies/kd_study.py): the official term at temperature 4 instead of 20,
# without the 1 / K: the per-pixel KL averaged over the hits, on the cross entropy's scale. A
# lower temperature keeps more of the teacher's class ranking in the soft targets.
_base_ = ['../panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py']
model = dict(distill_loss=dict(tau=4.0, class_mean=False))
