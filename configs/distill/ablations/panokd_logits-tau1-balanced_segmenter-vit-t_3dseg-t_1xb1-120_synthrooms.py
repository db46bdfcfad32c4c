# KD study row `tau1-balanced` (studies/kd_study.py): the `tau1` row with every class the
# teacher predicts at the kept hits weighing the same in the term (rare classes are not
# drowned by walls and floors).
_base_ = ['./panokd_logits-tau1_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py']
model = dict(distill_loss=dict(class_balanced=True))
