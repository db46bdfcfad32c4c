# The 3D U-Net baseline on the CPU-sized schedule and data of 3dseg-t_1xb2-3k_synthrooms-32.py
# (the model, base width 16 and 32^3 test windows, is its base's).
_base_ = [
    '../_base_/models/unet3d_synthrooms-32.py', '../_base_/datasets/synthrooms.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_3k_adam.py'
]
