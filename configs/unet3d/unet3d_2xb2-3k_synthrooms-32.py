# The 3D U-Net baseline on the CPU-sized schedule and data of 3dseg-t_synthrooms.py.
_base_ = ['../3dseg/3dseg-t_2xb2-3k_synthrooms-32.py']
model = dict(
    backbone=dict(_delete_=True, type='UNet3D', in_channels=4, base_channels=16, num_levels=4,
                  norm_cfg=dict(type='BN3d')),
    decode_head=dict(in_channels=16, skip=False))
