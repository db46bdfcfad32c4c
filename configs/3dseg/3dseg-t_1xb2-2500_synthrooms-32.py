# What `make demo` (tools/demo.py) trains: the model and data of
# 3dseg-t_1xb2-3k_synthrooms-32.py on the 2 500-iteration schedule.
_base_ = [
    '../_base_/models/3dseg-t_synthrooms-32.py', '../_base_/datasets/synthrooms.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_2500_adam.py'
]
