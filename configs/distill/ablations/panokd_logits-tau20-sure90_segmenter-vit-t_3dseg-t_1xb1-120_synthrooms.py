# KD study row `tau20-sure90` (studies/kd_study.py): the official term (temperature 20, 1 / K)
# on the hits where the teacher's top class has at least 90% probability only: does dropping
# the teacher's unsure pixels help?
_base_ = ['../panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py']
model = dict(distill_loss=dict(min_confidence=0.9))
