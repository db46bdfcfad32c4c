# 3DSeg-L on ScanNet v2 (20 classes, 4 cm voxels, 128^3 blocks), the paper's ScanNet setting.
_base_ = [
    '../_base_/models/3dseg.py', '../_base_/datasets/scannet.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_80k_adam.py'
]
model = dict(
    backbone=dict(arch='l'),
    decode_head=dict(in_channels=192, num_classes=20))
# num_gpus: 8 -> batch_size: 8
train_dataloader = dict(batch_size=1)
