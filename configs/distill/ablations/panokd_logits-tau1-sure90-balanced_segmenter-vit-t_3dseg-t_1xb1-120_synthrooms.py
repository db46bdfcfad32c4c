# KD study row `tau1-sure90-balanced` (studies/kd_study.py): the `tau1-sure90` row (the
# teacher's sure hits only) with every class the teacher predicts there weighing the same.
_base_ = ['./panokd_logits-tau1-sure90_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py']
model = dict(distill_loss=dict(class_balanced=True))
