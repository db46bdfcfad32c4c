# Room-level fine-tuning in the context the student was trained in: each room's losses run on
# non-overlapping 32^3 tiles (one batch), the block size of its training and of its sliding
# test windows, instead of one whole-room forward whose deep stages would attend across the
# room. The control of the tiles recipe of studies/paper_tables.py --distill.
_base_ = ['./3dseg-t_1xb1-120_synthrooms-room.py']
model = dict(train_cfg=dict(mode='tiles', crop_size=32))
