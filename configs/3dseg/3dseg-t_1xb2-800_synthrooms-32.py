# 3DSeg-T of the paper tables (studies/paper_tables.py --iters 800): the model and data of
# 3dseg-t_1xb2-3k_synthrooms-32.py on the 800-iteration schedule.
_base_ = [
    '../_base_/models/3dseg.py', '../_base_/datasets/synthrooms.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_800_adam.py'
]
# patch 2 at 8 cm, tested with the 32^3 windows it trained on (see the 3k config)
model = dict(
    backbone=dict(arch='t', patch_size=2, drop_path_rate=0.1),
    decode_head=dict(in_channels=96),
    test_cfg=dict(mode='slide', crop_size=32, stride=16))
