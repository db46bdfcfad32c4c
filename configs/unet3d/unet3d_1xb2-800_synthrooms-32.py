# The 3D U-Net of the paper tables at 3DSeg-T's iterations (studies/paper_tables.py --iters
# 800, the unet3d-equal-iters row): unet3d_1xb2-3k_synthrooms-32.py on the 800-iteration
# schedule.
_base_ = [
    '../_base_/models/unet3d_synthrooms-32.py', '../_base_/datasets/synthrooms.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_800_adam.py'
]
