# Room-level fine-tuning in the context the student was trained in: each room's losses run on
# non-overlapping 32^3 tiles (one batch), the block size of its training and of its sliding
# test windows, instead of one whole-room forward whose deep stages would attend across the
# room. The control of studies/paper_tables.py --distill --recipe tiles32-tau1 (and of
# kd_study.py --losses tiles32).
_base_ = ['./3dseg-t_1xb1-120_synthrooms-room.py']
model = dict(train_cfg=dict(mode='tiles', crop_size=32))
