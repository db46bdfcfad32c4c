# The 3D U-Net sized for the generated rooms at 8 cm on CPU (base width 16: 1.4 M parameters),
# tested with 3DSeg-T's 32^3 slide windows: the block-training configs of every schedule share it.
_base_ = ['./unet3d.py']
model = dict(
    backbone=dict(base_channels=16),
    decode_head=dict(in_channels=16),
    test_cfg=dict(mode='slide', crop_size=32, stride=16))
