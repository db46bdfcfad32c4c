_base_ = [
    '../_base_/models/unet3d.py', '../_base_/datasets/panorooms3d.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_80k_adam.py'
]
# num_gpus: 8 -> batch_size: 8
train_dataloader = dict(batch_size=1)
