# KD study row `tau1-sure90` (studies/kd_study.py): the `tau1` row on the hits where the
# teacher's top class has at least 90% probability only.
_base_ = ['./panokd_logits-tau1_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py']
model = dict(distill_loss=dict(min_confidence=0.9))
