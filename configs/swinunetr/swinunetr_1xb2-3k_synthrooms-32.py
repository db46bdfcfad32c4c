# The VT-UNet row: MONAI's SwinUNETR on the CPU-sized schedule and data of
# 3dseg-t_1xb2-3k_synthrooms-32.py (32^3 blocks, batch 2, same 32^3 slide windows at test).
# Width: feature_size 12, the smallest MONAI allows (a multiple of 12), depths 2-2-2-2, heads
# 3-6-12-24: 4,082,052 learned parameters with the head (3DSeg-T at patch 2: 364,284); MONAI's default
# feature_size 24 has 15.7 M, 3.8 times as many.
# Crop and norm: a 32^3 crop (MONAI's minimum: sides divisible by 32) puts a 1x1x1 voxel at
# the bottleneck, where instance norm (MONAI's default) has one value per channel and fails
# in training, and batch norm fails at batch 1. Group norm (4 groups: every level has
# 12 * 2**i channels) trains at batch 1 and 2 alike, so the crop stays the 32^3 of the other
# models instead of 64^3 (8x the voxels of every step).
_base_ = [
    '../_base_/models/swinunetr.py', '../_base_/datasets/synthrooms.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_3k_adam.py'
]
model = dict(
    backbone=dict(feature_size=12, norm_cfg=dict(type='GN', num_groups=4)),
    decode_head=dict(in_channels=12),
    test_cfg=dict(mode='slide', crop_size=32, stride=16))
