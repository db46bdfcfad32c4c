_base_ = [
    '../_base_/models/3dseg.py', '../_base_/datasets/panorooms.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_80k_adam.py'
]
model = dict(
    backbone=dict(arch='t'),
    decode_head=dict(in_channels=96))
# num_gpus: 8 -> batch_size: 8
train_dataloader = dict(batch_size=1)
