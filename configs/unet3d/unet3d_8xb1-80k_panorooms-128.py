# The 3D U-Net baseline on the paper's block training (base width 32, 4 levels: 5.6 M
# parameters).
_base_ = [
    '../_base_/models/unet3d.py', '../_base_/datasets/panorooms.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_80k_adam.py'
]
# num_gpus: 8 -> batch_size: 8
train_dataloader = dict(batch_size=1)
