# The distillation of the tables of record (studies/paper_tables.py --distill --recipe
# tiles32-tau1): the temperature-1 KD term (the `tau1` row of the KD study: the teacher's own
# probabilities, the per-pixel KL averaged over the hits) with the student's losses on 32^3
# tiles of each room, like its control 3dseg-t_1xb1-120_synthrooms-room-tiles32.py.
_base_ = ['./ablations/panokd_logits-tau1_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py']
model = dict(train_cfg=dict(mode='tiles', crop_size=32))
