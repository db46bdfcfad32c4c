# The 3D U-Net baseline on the CPU-sized schedule and data of 3dseg-t_1xb2-3k_synthrooms-32.py
# (base width 16: 1.4 M parameters); tested with the same 32^3 slide windows.
_base_ = [
    '../_base_/models/unet3d.py', '../_base_/datasets/synthrooms.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_3k_adam.py'
]
model = dict(
    backbone=dict(base_channels=16),
    decode_head=dict(in_channels=16),
    test_cfg=dict(mode='slide', crop_size=32, stride=16))
