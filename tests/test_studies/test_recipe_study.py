"""studies/recipe_study.py end to end: a row trains, is scored on the validation rooms, timed
and tabled, and a finished row is reused."""
import json
import os
import os.path as osp

import pytest

from studies import experiments, recipe_study

# --cfg-options of a smoke run: 2 steps (validated and checkpointed at the last), no loader
# worker processes
TINY = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2'] + [
    f'{s}_dataloader.{k}' for s in ('train', 'val', 'test')
    for k in ('num_workers=0', 'persistent_workers=False')]


@pytest.mark.slow
def test_one_row_trains_validates_reports_and_is_reused(tiny_rooms, tmp_path, monkeypatch):
    """The ``t-p2-1k`` row for 2 steps (``--options``) on four tiny rooms: scored on the
    validation room, its parameters and inference seconds measured, written to the JSON and
    the table; run again, nothing trains."""
    monkeypatch.chdir(tmp_path)  # main() moves to the repository: come back after
    out = tmp_path / 'out'
    argv = ['--data', tiny_rooms, '--out', str(out), '--rows', 't-p2-1k', '--options', *TINY]
    assert recipe_study.main(argv) == 0
    results = json.load(open(out / 'recipe_study.json'))
    assert list(results) == ['t-p2-1k']
    row = results['t-p2-1k']
    record = json.load(open(out / 't-p2-1k' / 'record_validation.json'))
    assert (row['mIoU'], row['surface_mIoU']) == (record['metrics']['mIoU'],
                                                  record['metrics']['surface_mIoU'])
    assert 0 <= row['mIoU'] <= 100 and 0 <= row['surface_mIoU'] <= 100
    # scored on the validation rooms, never the test rooms
    assert not osp.exists(out / 't-p2-1k' / 'record_test.json')
    assert 'splits/validation.txt' in open(out / 't-p2-1k_validation.log').read()
    # the row's config file with the run inputs and --options; the iterations it really ran
    assert row['config'] == record['config'] == recipe_study.ROWS['t-p2-1k']
    assert record['options'] == (experiments.data_options(tiny_rooms) +
                                 ['randomness.seed=0'] + TINY)
    assert row['iters'] == 2 and row['train_seconds'] == record['train_seconds'] > 0
    assert osp.isfile(record['checkpoint']) and record['checkpoint'].endswith('iter_2.pth')
    assert row['params'] == 364284 and row['inference_seconds'] > 0  # 3DSeg-T, patch 2
    table = (out / 'recipe_study.md').read_text()
    assert '(1 validation rooms, seed 0)' in table
    assert (f"| t-p2-1k | {row['mIoU']:.2f} | {row['surface_mIoU']:.2f} | 2 | "
            f"{row['train_seconds']:.0f} | 364,284 |") in table
    # a second run reuses the finished row: no training log is written again
    stamps = {p: os.stat(p).st_mtime_ns for p in out.glob('*_train.log')}
    assert list(map(osp.basename, stamps)) == ['t-p2-1k_train.log']
    assert recipe_study.main(argv) == 0
    assert {p: os.stat(p).st_mtime_ns for p in out.glob('*_train.log')} == stamps
    again = json.load(open(out / 'recipe_study.json'))
    assert {k: v for k, v in again['t-p2-1k'].items() if k != 'inference_seconds'} == {
        k: v for k, v in row.items() if k != 'inference_seconds'}  # timed afresh
