"""studies/block_rows.py: every block-trained row has its config, equal-time budgets."""
import os.path as osp

from conftest import ROOT
from studies import block_rows


def test_every_run_has_a_config():
    configs = list(block_rows.CONFIGS.values()) + [
        c for row in block_rows.SCHEDULED.values() for c in row.values()]
    assert all(osp.isfile(osp.join(ROOT, c)) for c in configs)
    assert block_rows.ORDER.index('3dseg-t') < block_rows.ORDER.index('unet3d')


def test_equal_wall_clock_scales_iterations_by_measured_speed():
    # the U-Net took 600 s for 3000 iterations; 3DSeg-T took 150 s: a quarter of the steps
    assert block_rows.equal_time_iters(3000, 150.0, 600.0) == 750
    assert block_rows.equal_time_iters(3000, 600.0, 600.0) == 3000
    assert block_rows.equal_time_iters(10, 0.01, 100.0) == 1
