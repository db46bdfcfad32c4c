# CPU-sized 3DSeg-T on the generated rooms (8 cm voxels, 32^3 blocks), 3 000 iterations. `make
# demo` trains it for 2 500 (3dseg-t_1xb2-2500_synthrooms-32.py), the paper tables for 800
# (-800). The model (patch 2, 32^3 test windows) is explained in its base.
_base_ = [
    '../_base_/models/3dseg-t_synthrooms-32.py', '../_base_/datasets/synthrooms.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_3k_adam.py'
]
