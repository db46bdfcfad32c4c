# Recipe study row `b-p2-1k` (studies/recipe_study.py): the `t-p2-1k` row with 3DSeg-B (twice
# the stage-2 depth, ../3dseg-b_1xb2-3k_synthrooms-32.py): what depth buys at equal
# iterations.
_base_ = ['./3dseg-t-p2_1xb2-1k_synthrooms-32.py']
model = dict(backbone=dict(arch='b'))
