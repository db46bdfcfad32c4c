# KD study row `oracle-smooth40` (studies/kd_study.py): the oracle's targets softened, 40% of
# the probability spread evenly over the classes (10% in the oracle row).
_base_ = ['../panokd_oracle_3dseg-t_1xb1-120_synthrooms.py']
model = dict(smoothing=0.4)
