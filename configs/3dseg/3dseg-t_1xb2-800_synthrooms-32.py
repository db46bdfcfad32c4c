# 3DSeg-T of the paper tables (studies/paper_tables.py --iters 800): the model and data of
# 3dseg-t_1xb2-3k_synthrooms-32.py on the 800-iteration schedule.
_base_ = [
    '../_base_/models/3dseg-t_synthrooms-32.py', '../_base_/datasets/synthrooms.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_800_adam.py'
]
