# KD study row `oracle-band` (studies/kd_study.py): the oracle (the label panoramas as the
# teacher) compared with the student at 5 points along each pixel's ray, 2 voxels in front of
# the surface hit to 2 behind, the TSDF truncation band where the 3D labels carry the
# surface's class too.
_base_ = ['../panokd_oracle_3dseg-t_1xb1-120_synthrooms.py']
model = dict(ray_offsets=[-2, -1, 0, 1, 2])
