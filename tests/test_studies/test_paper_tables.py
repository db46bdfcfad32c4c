"""studies/paper_tables.py: the driver's stages (here ``--students``) run the runs they say."""
import os.path as osp

import pytest

from studies import distillation_rows, paper_tables


def test_students_trains_the_two_students_of_each_seed_and_no_teacher(monkeypatch, tmp_path):
    runs = []

    def fake_run(run_dir, config, options, log, **kwargs):
        runs.append(osp.relpath(run_dir, tmp_path))
        return dict(checkpoint=f'{run_dir}.pth', metrics=dict(mIoU=1.0), train_seconds=1.0)

    monkeypatch.setattr(paper_tables, 'ensure_rooms', lambda *a, **k: ['r'])
    monkeypatch.setattr(paper_tables.experiments, 'train_and_test', fake_run)
    monkeypatch.setattr(paper_tables.experiments, 'run', lambda *a: runs.append('tool run'))
    monkeypatch.setattr(distillation_rows, 'student_panorama_miou', lambda *a: 1.0)
    monkeypatch.setattr(distillation_rows, 'rendered_panorama_miou', lambda *a: dict(mIoU=1.0))
    # the label-scarce student's rooms named here (else: the count chosen on validation)
    assert paper_tables.main(['--out', str(tmp_path), '--seeds', '0', '1', '--students',
                              '--labelled-rooms', '12']) == 0
    assert runs == ['seed0/3dseg-t', 'seed0/3dseg-t-scarce', 'seed1/3dseg-t',
                    'seed1/3dseg-t-scarce']
    # --scarce-only: the label-scarce student alone, on its own labelled rooms
    runs.clear()
    seen = []
    monkeypatch.setattr(paper_tables.experiments, 'train_and_test',
                        lambda run_dir, config, options, log, **kw: seen.append(options) or
                        fake_run(run_dir, config, options, log))
    assert paper_tables.main(['--out', str(tmp_path), '--seeds', '2', '--students',
                              '--scarce-only', '--labelled-rooms', '3']) == 0
    assert runs == ['seed2/3dseg-t-scarce']
    assert 'train_dataloader.dataset.indices=3' in seen[0]


def test_scanned_rooms_are_asked_of_the_generator_only_with_scan_frames(monkeypatch):
    seen = []
    monkeypatch.setattr(paper_tables, 'ensure_rooms',
                        lambda data, n, out, generator_args: seen.append(generator_args) or ['r'])
    assert paper_tables.study_rooms(paper_tables.parse_args(['--scan-frames', '4',
                                                             '--depth-noise', '0.01'])) == ['r']
    paper_tables.study_rooms(paper_tables.parse_args([]))
    assert seen == [['--scan-frames', '4', '--depth-noise', '0.01'], []]


def test_collected_runs_name_the_config_they_ran():
    results = {}
    for seed in (2, 0):
        paper_tables.collect(results, seed, {'3dseg-t+room': dict(
            metrics=dict(mIoU=40.0 + seed), train_seconds=2.0, iters=120,
            config=f'configs/x{seed}.py')})
    assert results['3dseg-t+room']['config'] == ['configs/x2.py', 'configs/x0.py']
    assert results['3dseg-t+room']['mIoU'] == [42.0, 40.0]
    # each position's seed, which the tables pair runs by
    assert results['3dseg-t+room']['seeds'] == [2, 0]


def test_the_equal_wall_clock_unet_keeps_the_budget_it_was_given(monkeypatch):
    """The U-Net at 3DSeg-T's wall-clock runs the iterations 3DSeg-T's seconds buy at the
    U-Net's measured speed, and its record keeps those seconds beside it (``budget_seconds``),
    shared run or not, so a later 3dseg-t run on another day cannot make it look unequal."""
    seconds = {'3dseg-t': 200.0, 'unet3d-equal-iters': 400.0}
    made = []

    def fake_run(args, name, seed, iters):
        made.append((name, iters))
        return dict(metrics=dict(mIoU=float(iters)), iters=iters,
                    train_seconds=seconds.get(name, iters / 2.0))

    monkeypatch.setattr(paper_tables, 'train_and_test', fake_run)
    args = paper_tables.parse_args(['--only', 'unet3d', '--iters', '800', '--seeds', '0'])
    records = paper_tables.seed_runs(args, 0, None)
    # 800 iterations x 200 s / 400 s: half the U-Net's 800-iteration run
    assert made == [('3dseg-t', 800), ('unet3d-equal-iters', 800), ('unet3d', 400)]
    assert records['unet3d']['budget_seconds'] == 200.0 and list(records) == ['unet3d']
    seconds['3dseg-t'] = 390.0  # within 5 % of the U-Net's: the equal-iteration run is reused
    made.clear()
    shared = paper_tables.seed_runs(args, 1, None)['unet3d']
    assert made == [('3dseg-t', 800), ('unet3d-equal-iters', 800)]
    assert shared['shared_with'] == 'unet3d-equal-iters' and shared['budget_seconds'] == 390.0
    results = {}
    paper_tables.collect(results, 0, records)
    paper_tables.collect(results, 1, {'unet3d': shared})
    assert results['unet3d']['budget_seconds'] == [200.0, 390.0]
    assert results['unet3d']['iters'] == [400, 800]
    assert results['unet3d']['shared_with_seeds'] == [1]


# --cfg-options that make any run of the drivers a smoke run: no dataloader worker processes
TINY_LOADERS = [f'{s}_dataloader.{k}' for s in ('train', 'val', 'test')
                for k in ('num_workers=0', 'persistent_workers=False')]


@pytest.mark.slow
def test_one_row_trains_tests_and_is_tabled_then_reused(tiny_rooms, tmp_path, monkeypatch):
    """paper_tables.py end to end on four tiny rooms: 3DSeg-T's block training for 2 steps
    (``--iters 2``; ``--options`` end the warm-up in time and drop the loader workers) is
    tested on the test room, its numbers written to results.json and the table, its loss
    plotted; run again, nothing trains and the table of record is never written."""
    import json
    import os

    from studies import block_rows, paper_outputs
    monkeypatch.chdir(tmp_path)  # main() moves to the repository: come back after
    record_of_record = paper_outputs.record_path()
    before = os.stat(record_of_record).st_mtime_ns if osp.isfile(record_of_record) else None
    out = tmp_path / 'out'
    options = ['param_scheduler.0.end=1', 'param_scheduler.1.begin=1', *TINY_LOADERS]
    argv = ['--data', tiny_rooms, '--out', str(out), '--only', '3dseg-t', '--seeds', '0',
            '--iters', '2', '--repeats', '0', '--options', *options]
    assert paper_tables.main(argv) == 0
    results = json.load(open(out / 'results.json'))
    assert list(results) == ['3dseg-t']
    row = results['3dseg-t']
    record = json.load(open(out / 'seed0' / '3dseg-t' / 'record_test.json'))
    assert {k: row[k] for k in block_rows.METRICS} == {k: [record['metrics'][k]]
                                                       for k in block_rows.METRICS}
    assert all(0 <= row[k][0] <= 100 for k in block_rows.METRICS)
    assert row['iters'] == [2] and row['train_seconds'] == [record['train_seconds']] > [0]
    # the row's config file, the run's inputs and --options after them, the schedule of 2 steps
    assert row['config'] == [record['config']] == [block_rows.CONFIGS['3dseg-t']]
    assert record['options'] == (block_rows.data_options(tiny_rooms) + ['randomness.seed=0'] +
                                 block_rows.schedule_options(2) + options)
    assert osp.isfile(record['checkpoint']) and record['checkpoint'].endswith('iter_2.pth')
    assert row['params'] == 364284 and 'inference_seconds' not in row  # --repeats 0
    table = (out / 'paper_tables.md').read_text()
    assert (f"| 3dseg-t | {row['mIoU'][0]:.2f} | {row['surface_mIoU'][0]:.2f} | "
            f"{row['mAcc'][0]:.2f} | {row['aAcc'][0]:.2f} | 2 |") in table
    assert '(1 test rooms, seeds 0;' in table
    assert (out / 'paper_tables_loss.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # a second run reuses the finished run: no training log is written again
    stamps = {p: os.stat(p).st_mtime_ns for p in out.glob('*_train.log')}
    assert list(map(osp.basename, stamps)) == ['seed0_3dseg-t_train.log']
    assert paper_tables.main(argv) == 0
    assert {p: os.stat(p).st_mtime_ns for p in out.glob('*_train.log')} == stamps
    assert json.load(open(out / 'results.json')) == results
    after = os.stat(record_of_record).st_mtime_ns if osp.isfile(record_of_record) else None
    assert after == before  # no --record: the table of record is not touched


def test_the_table_of_record_takes_no_runs_made_with_options(capsys):
    with pytest.raises(SystemExit):
        paper_tables.parse_args(['--record', '--options', 'train_cfg.max_iters=2'])
    assert '--record keeps the table of record' in capsys.readouterr().err
    assert paper_tables.parse_args(['--record']).record
