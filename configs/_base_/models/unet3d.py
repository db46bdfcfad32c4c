# 3D U-Net baseline (Cicek et al. 2016) with a per-voxel linear classifier.
_base_ = ['./3dseg.py']
model = dict(
    backbone=dict(_delete_=True, type='UNet3D', in_channels=4, base_channels=32, num_levels=4,
                  norm_cfg=dict(type='BN3d')),
    decode_head=dict(in_channels=32, skip=False))
