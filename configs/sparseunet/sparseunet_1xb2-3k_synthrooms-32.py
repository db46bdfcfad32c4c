# The sparse-convolution U-Net baseline on the CPU-sized schedule and data of
# 3dseg-t_1xb2-3k_synthrooms-32.py (32^3 blocks, batch 2, same 32^3 slide windows at test).
# Width: mmdet3d's MinkUNet18 layout (2 residual blocks per stage, 4 stages) at half its
# published width 32: base 16, encoder 16-32-64-128, decoder 128-64-48-48:
# 5,435,774 learned parameters with the head (3DSeg-T at patch 2: 364,284; UNet3D base 16: 1,403,054).
# Norm: BN1d over the active voxels of the batch (the library's choice); GN or LN with
# model.backbone.norm_cfg (see docs/baselines.md for the tuning keys).
_base_ = [
    '../_base_/models/sparseunet.py', '../_base_/datasets/synthrooms.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_3k_adam.py'
]
model = dict(
    backbone=dict(
        base_channels=16,
        encoder_channels=(16, 32, 64, 128),
        decoder_channels=(128, 64, 48, 48),
        encoder_blocks=(2, 2, 2, 2),
        decoder_blocks=(2, 2, 2, 2)),
    decode_head=dict(in_channels=48),
    test_cfg=dict(mode='slide', crop_size=32, stride=16))
