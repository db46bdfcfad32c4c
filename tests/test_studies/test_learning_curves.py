"""studies/learning_curves.py: curves read back from the Runner's logs across resumed
segments, and the convergence and time-to-accuracy numbers the comparison reports."""
import json
import os
import os.path as osp

import pytest

from studies import comparison_tables, learning_curves, results_tables


def _scalars(folder, rows):
    os.makedirs(folder / 'vis_data')
    with open(folder / 'vis_data' / 'scalars.json', 'w') as f:
        for row in rows:
            f.write(json.dumps(row) + '\n')


def test_curve_merges_the_validations_of_resumed_segments(tmp_path):
    _scalars(tmp_path / '20261205_100000', [
        dict(loss=1.0, step=50), dict(mIoU=10.0, mAcc=20.0, step=100),
        dict(mIoU=12.0, step=200), dict(loss=0.5, step=250)])
    # stopped after 250 iterations and resumed from the checkpoint at 200: 200 is validated
    # again (its later value wins), then the run goes on
    _scalars(tmp_path / '20261205_110000', [dict(mIoU=12.5, step=200), dict(mIoU=15.0, step=300)])
    curve = learning_curves.read_curve(str(tmp_path), step_seconds=0.5)
    assert curve == [[50.0, 100, 10.0], [100.0, 200, 12.5], [150.0, 300, 15.0]]


def test_gain_over_the_last_quarter():
    curve = [[s, s, m] for s, m in [(100, 10.0), (200, 20.0), (300, 24.0), (400, 24.3)]]
    assert learning_curves.gain_last_quarter(curve) == pytest.approx(0.3)
    # points not on the quarter: the last one at or before three quarters of the seconds
    curve = [[s, s, m] for s, m in [(100, 10.0), (250, 20.0), (390, 23.0), (520, 26.0)]]
    assert learning_curves.gain_last_quarter(curve) == pytest.approx(26.0 - 23.0)
    with pytest.raises(ValueError, match='needs a point in its first three quarters'):
        learning_curves.gain_last_quarter([])
    with pytest.raises(ValueError, match=r'first three quarters: \[\[100, 10, 5.0\]\]'):
        learning_curves.gain_last_quarter([[100, 10, 5.0]])  # one point: no quarter before it


def test_gain_over_the_last_quarter_starts_at_the_sixth_eighth_whatever_the_seconds_rounding():
    # SwinUNETR's recorded seed 0: 1328 iterations of 0.78 s, seconds rounded to 0.1 per point;
    # 996 x 0.78 = 776.88 -> 776.9 lies past 0.75 x 1035.8 = 776.85, yet it is the sixth eighth
    curve = [[round(it * 0.78, 1), it, m] for it, m in zip(
        range(166, 1329, 166), [20.25, 26.87, 34.26, 36.31, 42.59, 45.74, 46.87, 49.91])]
    assert curve[5][0] > 0.75 * curve[-1][0] and curve[5][1] * 4 == curve[-1][1] * 3
    assert learning_curves.gain_last_quarter(curve) == pytest.approx(49.91 - 45.74)
    # the U-Net's at 4x: 21312 x 0.146 = 3111.552 -> 3111.6, past 0.75 x 4148.7 = 3111.525
    unet = [[round(it * 0.146, 1), it, m] for it, m in zip(
        range(3552, 28417, 3552), [55.82, 62.47, 67.08, 75.30, 78.92, 79.07, 81.54, 82.18])]
    assert learning_curves.gain_last_quarter(unet) == pytest.approx(82.18 - 79.07)


def test_time_to_accuracy_is_the_first_point_at_the_target():
    curve = [[100, 10, 20.0], [200, 20, 30.0], [300, 30, 29.0], [400, 40, 33.0]]
    assert learning_curves.time_to_accuracy(curve, 30.0) == 200
    assert learning_curves.time_to_accuracy(curve, 32.0) == 400
    assert learning_curves.time_to_accuracy(curve, 40.0) is None


def test_summary_known_answer():
    def run(points, test):
        return dict(curve=[[s, s // 10, m] for s, m in points], mIoU=test, surface_mIoU=test - 1)

    curves = {
        'fast': {'0': run([(100, 30.0), (200, 38.0), (300, 39.0), (400, 40.0)], 39.0),
                 '1': run([(100, 28.0), (200, 36.0), (300, 38.0), (400, 38.0)], 37.0)},
        'slow': {'0': run([(100, 10.0), (200, 20.0), (300, 30.0), (400, 36.0)], 35.0)},
    }
    rows = learning_curves.summary(curves)
    # the best model's mean final validation is 39.0: 95% of it is 37.05
    assert rows['fast']['target'] == pytest.approx(37.05)
    assert rows['fast']['seconds_to_target'] == [200, 300]
    assert rows['slow']['seconds_to_target'] == [None]
    assert rows['fast']['points_to_target'] == [2, 3] and rows['slow']['points_to_target'] == [None]
    assert rows['fast']['final_val'] == [40.0, 38.0]
    assert rows['fast']['gain_last_quarter'] == [1.0, 0.0]
    assert rows['slow']['mIoU'] == [35.0] and rows['slow']['surface_mIoU'] == [34.0]


def test_report_adds_runs_to_the_table_of_record_and_keeps_the_others(tmp_path, monkeypatch):
    from studies import baseline_study
    os.makedirs(tmp_path / 'benchmarks')
    monkeypatch.setattr(baseline_study, 'RESULTS', str(tmp_path / 'benchmarks/baselines.json'))
    monkeypatch.setattr(baseline_study, 'best_recipe', lambda model: [f'recipe-of-{model}'])
    kept = {'3dseg-t': dict(mIoU=[31.0], iters=[800])}
    with open(tmp_path / 'benchmarks/paper_tables.json', 'w') as f:
        json.dump(kept, f)

    def run(model, seed, values, options=None):
        curve = [[100.0 * (i + 1), 10 * (i + 1), v] for i, v in enumerate(values)]
        options = options or learning_curves.curve_options(model, 'data/synthrooms-study', seed)
        return dict(seed=seed, curve=curve, mIoU=values[-1] - 1, surface_mIoU=values[-1] - 2,
                    train_seconds=500.0 + seed, iters=40, budget_seconds=400.0,
                    options=options)

    with baseline_study.updating_results() as results:
        results['curves'] = {
            '3dseg-t': {'0': run('3dseg-t', 0, [10, 20, 30, 31]),
                        '1': run('3dseg-t', 1, [12, 22, 28, 33]),
                        # made with an older recipe: not part of today's comparison
                        '2': run('3dseg-t', 2, [50, 60, 70, 80], options=['old'])},
            'unet3d': {'0': run('unet3d', 0, [5, 10, 15, 20])}}
    learning_curves.report()  # beside RESULTS
    paper = json.load(open(tmp_path / 'benchmarks/paper_tables.json'))
    assert paper['3dseg-t'] == kept['3dseg-t']
    tuned = paper['3dseg-t-tuned']
    assert tuned['mIoU'] == [30, 32] and tuned['surface_mIoU'] == [29, 31]
    assert tuned['train_seconds'] == [500.0, 501.0] and tuned['iters'] == [40, 40]
    assert tuned['params'] == 364284 and tuned['seeds'] == [0, 1]
    assert tuned['curve'] == [[100.0, 10, 11.0], [200.0, 20, 21.0], [300.0, 30, 29.0],
                              [400.0, 40, 32.0]]
    assert paper['unet3d-tuned']['curve'][-1] == [400.0, 40, 20]
    record = json.load(open(tmp_path / 'benchmarks/baselines.json'))
    summary = record['curve_summary']
    assert summary['unet3d']['seconds_to_target'] == [None]  # 95% of 32.0 is 30.4
    assert summary['3dseg-t']['seconds_to_target'] == [400.0, 400.0]
    assert record['params']['unet3d'] == 1403054
    png = open(tmp_path / 'benchmarks/learning_curves.png', 'rb').read()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10_000


def test_mean_curve_averages_by_iteration():
    runs = {'0': dict(curve=[[10.0, 100, 1.0], [20.0, 200, 3.0], [30.0, 300, 5.0]]),
            # this seed missed its validation at 200
            '1': dict(curve=[[10.0, 100, 2.0], [30.0, 300, 7.0]])}
    assert learning_curves.mean_curve(runs) == [[10.0, 100, 1.5], [30.0, 300, 6.0]]


def _eighths(sixth, final, iters=800):
    return dict(curve=[[it * 0.1, it, v] for it, v in zip(
        range(iters // 8, iters + 1, iters // 8), [10, 11, 12, 13, 14, sixth, sixth + 1, final])])


def test_convergence_is_the_mean_of_the_seeds_gains_with_its_standard_error():
    # 3DSeg-T's seeds 0 and 1 at 4x: gains 2.06 and 0.76, mean 1.41 (the mean curve rounded
    # point by point, 72.60 -> 74.02, would say 1.42), standard error 1.30 / 2
    runs = {'0': _eighths(72.64, 74.7), '1': _eighths(72.57, 73.33)}
    assert learning_curves.convergence(runs) == dict(
        mean_gain_last_quarter=1.41, gain_sem=0.65, converged=False)
    # the mean curve's rounded points, 15.005 -> 15.00 and 15.495 -> 15.50, would read 0.50
    # (at the threshold); the seeds gain 0.43 and 0.55, 0.49 on average: converged
    runs = {'0': _eighths(15.0, 15.43), '1': _eighths(15.01, 15.56)}
    assert learning_curves.convergence(runs) == dict(
        mean_gain_last_quarter=0.49, gain_sem=0.06, converged=True)
    # one seed: its own gain, no error; 16.06 - 15.56 is 0.4999... in floats, judged as 0.50
    assert learning_curves.convergence({'2': _eighths(15.56, 16.06)}) == dict(
        mean_gain_last_quarter=0.5, gain_sem=None, converged=False)
    # seeds validated on different grids: each seed's own last quarter, not a KeyError or an
    # empty mean curve
    runs = {'0': _eighths(20.0, 21.0), '1': _eighths(20.0, 20.0, iters=1600)}
    assert learning_curves.convergence(runs)['mean_gain_last_quarter'] == 0.5


def test_a_curve_with_a_missing_validation_is_refused():
    curve = [[s * 100.0, s * 100, 1.0] for s in (1, 2, 3, 5, 6, 7, 8)]
    with pytest.raises(RuntimeError, match=r'\[100, 200, 300, 500, 600, 700, 800\].*400'):
        learning_curves.check_curve(curve, 800, 'work')
    learning_curves.check_curve(curve[:3] + [[400.0, 400, 1.0]] + curve[3:], 800, 'work')


def _fake_training(calls):
    def run(cmd, log, quiet=False):
        calls.append(cmd)
        work = cmd[cmd.index('--work-dir') + 1]
        with open(os.path.join(work, 'last_checkpoint'), 'w') as f:
            f.write('iter_8.pth')
        return 1.0
    return run


def test_a_run_is_resumed_only_with_its_own_options_and_older_runs_move_aside(tmp_path,
                                                                              monkeypatch):
    from studies import baseline_study
    calls = []
    monkeypatch.setattr(learning_curves.experiments, 'run', _fake_training(calls))
    work = tmp_path / 'curves' / 'unet3d' / 'seed0'
    os.makedirs(work / '20260101_000000')
    (work / 'best_mIoU_iter_3.pth').write_text('an older run')
    state = learning_curves._train('unet3d', str(work), ['a=1'], str(tmp_path), 0)
    assert '--overwrite' in calls[-1] and state['trained'] and len(state['segments']) == 1
    # the older run is kept, beside, and no longer in the work dir
    aside = [p for p in os.listdir(work.parent) if p.startswith('seed0.replaced-')]
    assert len(aside) == 1 and (work.parent / aside[0] / 'best_mIoU_iter_3.pth').exists()
    assert sorted(os.listdir(work)) == ['curve_state.json', 'last_checkpoint']
    # trained: a second call (e.g. after a stop while testing) trains nothing
    learning_curves._train('unet3d', str(work), ['a=1'], str(tmp_path), 0)
    assert len(calls) == 1
    # a stopped run with the same options resumes; other options start over
    state = json.load(open(work / 'curve_state.json'))
    state['trained'] = False
    (work / 'curve_state.json').write_text(json.dumps(state))
    state = learning_curves._train('unet3d', str(work), ['a=1'], str(tmp_path), 0)
    assert '--resume' in calls[-1] and len(state['segments']) == 2
    learning_curves._train('unet3d', str(work), ['a=2'], str(tmp_path), 0)
    assert '--overwrite' in calls[-1]
    assert baseline_study.curve_iters('unet3d') % baseline_study.CURVE_POINTS == 0


def test_a_segment_killed_outright_resumes_and_counts_its_seconds_to_its_checkpoint(
        tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(learning_curves.experiments, 'run', _fake_training(calls))
    work = tmp_path / 'curves' / 'unet3d' / 'seed0'
    os.makedirs(work)
    # what a segment leaves when it is killed with no chance to write on the way out: the
    # state written before it started, and its last checkpoint
    (work / 'curve_state.json').write_text(json.dumps(
        dict(options=['a=1'], segments=[100.0], trained=False, running_since=1000.0)))
    (work / 'last_checkpoint').write_text('iter_8.pth')
    os.utime(work / 'last_checkpoint', (1250.0, 1250.0))
    state = learning_curves._train('unet3d', str(work), ['a=1'], str(tmp_path), 0)
    assert '--resume' in calls[-1] and state['trained']
    assert state['segments'][:2] == [100.0, 250.0] and len(state['segments']) == 3
    assert 'running_since' not in json.load(open(work / 'curve_state.json'))


def test_the_state_is_on_disk_while_a_segment_trains(tmp_path, monkeypatch):
    seen = []

    def training(cmd, log, quiet=False):
        seen.append(json.load(open(tmp_path / 'seed0' / 'curve_state.json')))
        raise KeyboardInterrupt  # stopped half-way

    monkeypatch.setattr(learning_curves.experiments, 'run', training)
    with pytest.raises(KeyboardInterrupt):
        learning_curves._train('unet3d', str(tmp_path / 'seed0'), ['a=1'], str(tmp_path), 0)
    assert seen[0]['options'] == ['a=1'] and 'running_since' in seen[0]
    state = json.load(open(tmp_path / 'seed0' / 'curve_state.json'))
    # the stop recorded its seconds: the next segment must not count them again
    assert not state['trained'] and len(state['segments']) == 1
    assert 'running_since' not in state


def test_a_killed_segment_with_no_newer_checkpoint_counts_no_seconds(tmp_path, monkeypatch):
    monkeypatch.setattr(learning_curves.experiments, 'run', _fake_training([]))
    work = tmp_path / 'seed0'
    os.makedirs(work)
    (work / 'curve_state.json').write_text(json.dumps(
        dict(options=['a=1'], segments=[100.0], trained=False, running_since=2000.0)))
    (work / 'last_checkpoint').write_text('iter_8.pth')
    os.utime(work / 'last_checkpoint', (1500.0, 1500.0))  # from the segment before
    state = learning_curves._train('unet3d', str(work), ['a=1'], str(tmp_path), 0)
    assert state['segments'][:2] == [100.0, 0.0]


def test_longer_runs_keep_the_recipe_and_the_validation_points_and_stay_apart(tmp_path,
                                                                             monkeypatch):
    """``--scale 4``: four times the iterations (the decay stretched to the end), still 8
    validations, under curves-x4; the report says whether each model converged."""
    from studies import baseline_study
    monkeypatch.setattr(baseline_study, 'best_recipe', lambda model: ['recipe=1'])
    base = learning_curves.curve_options('unet3d', 'data/x', 0)
    longer = learning_curves.curve_options('unet3d', 'data/x', 0, scale=4)
    iters = baseline_study.curve_iters('unet3d')
    assert f'train_cfg.max_iters={4 * iters}' in longer
    assert f'train_cfg.val_interval={4 * iters // 8}' in longer
    assert f'param_scheduler.1.end={4 * iters}' in longer
    changed = {o for o in longer if o not in base}
    assert {o.split('=')[0] for o in changed} == {
        'train_cfg.max_iters', 'train_cfg.val_interval', 'default_hooks.checkpoint.interval',
        'param_scheduler.1.end'}
    logs = []
    fake = _fake_training([])
    monkeypatch.setattr(learning_curves.experiments, 'run',
                        lambda cmd, log, quiet=False: (logs.append(log), fake(cmd, log))[1])
    learning_curves._train('unet3d', str(tmp_path / 'w'), longer, str(tmp_path), 0, scale=4)
    assert logs == [str(tmp_path / 'curve-x4_unet3d_seed0_train0.log')]
    # the report: a converged model and one that still gains
    os.makedirs(tmp_path / 'benchmarks')
    monkeypatch.setattr(baseline_study, 'RESULTS', str(tmp_path / 'benchmarks/baselines.json'))

    def run(model, values, seed=0):
        return dict(seed=seed, curve=[[100.0 * (i + 1), 10 * (i + 1), v]
                                   for i, v in enumerate(values)], mIoU=1.0, surface_mIoU=1.0,
                    iters=40, budget_seconds=400.0,
                    options=learning_curves.curve_options(model, 'data/x', seed, scale=4))

    with baseline_study.updating_results() as results:
        # 3DSeg-T: seed 1 gains exactly the threshold (not below it), the seeds' mean curve
        # (10, 20, 30.5, 30.95) gains 0.45
        results['curves-x4'] = {'3dseg-t': {'0': run('3dseg-t', [10, 20, 30, 30.4]),
                                            '1': run('3dseg-t', [10, 20, 31, 31.5], seed=1)},
                                'unet3d': {'0': run('unet3d', [10, 20, 30, 31])}}
    plots = []
    monkeypatch.setattr(learning_curves, 'plot', lambda curves, path, *title: plots.append(
        (osp.basename(path), sorted(curves))))
    learning_curves.report('data/x')
    summary = json.load(open(tmp_path / 'benchmarks/baselines.json'))['curve_summary-x4']
    # converged is the mean curve's verdict (0.45), not every seed's (seed 1 gains 0.50); its
    # standard error is the seeds' std (0.0707) over sqrt(2)
    assert summary['3dseg-t']['converged'] and not summary['unet3d']['converged']
    assert summary['3dseg-t']['gain_last_quarter'] == [0.4, 0.5]
    assert summary['3dseg-t']['mean_gain_last_quarter'] == 0.45
    assert summary['3dseg-t']['gain_sem'] == 0.05
    assert summary['unet3d']['gain_last_quarter'] == [1.0]
    assert summary['unet3d']['mean_gain_last_quarter'] == 1.0
    assert summary['unet3d']['gain_sem'] is None
    # their own picture beside the comparison's, and their own table
    assert plots == [('learning_curves.png', []),
                     ('learning_curves-x4.png', ['3dseg-t', 'unet3d'])]
    table = comparison_tables.convergence_table(results_tables.json_loader(str(tmp_path)))
    assert '| 3DSeg-T | 4x | 40 | 400 | 2 | 10.00, 20.00, 30.50, 30.95 | 30.95 ± 0.78 | ' \
        '+0.40, +0.50 | +0.45 ± 0.05 (below 0.5) | yes | 1.00 ± 0.00 |' in table
    assert '| UNet3D | 4x | 40 | 400 | 1 | 10.00, 20.00, 30.00, 31.00 | 31.00 | +1.00 | ' \
        '+1.00 (above 0.5) | no | 1.00 |' in table
    # a scale of 10 after the scale of 4 (not before it, as the keys' letters sort); a
    # summary whose runs are no longer in the record gives its own numbers, not a KeyError
    record = json.load(open(tmp_path / 'benchmarks/baselines.json'))
    record['curve_summary-x10'] = {'unet3d': record['curve_summary-x4']['unet3d']}
    lines = [line for line in comparison_tables.convergence_table(
        lambda name: record).splitlines() if line.startswith('| UNet3D')]
    assert lines[1] == ('| UNet3D | 10x | — | — | 1 | — | 31.00 | +1.00 | +1.00 (above 0.5) '
                        '| no | 1.00 |')
    # a summary written before the mean curve's gain was recorded: '—', and no verdict (its
    # 'converged' was every seed's, not the column's)
    del record['curve_summary-x10']['unet3d']['mean_gain_last_quarter']
    lines = [line for line in comparison_tables.convergence_table(
        lambda name: record).splitlines() if line.startswith('| UNet3D')]
    assert lines[1] == '| UNet3D | 10x | — | — | 1 | — | 31.00 | +1.00 | — | — | 1.00 |'
    assert lines[0].startswith('| UNet3D | 4x | 40 |')
    # the lead at the longer budget, paired by seed (only seed 0 has both), its own target:
    # 95% of UNet3D's mean final validation mIoU (31.0), reached by both at the 3rd validation
    lead = comparison_tables.lead_table(results_tables.json_loader(str(tmp_path)), scale=4)
    assert summary['unet3d']['target'] == 29.45
    row = next(line for line in lead.splitlines() if line.startswith('| UNet3D'))
    assert row.split(' | ')[1:6] == ['1', '0.00', 'tie', '300.00 vs 300.00', 'tie']
    assert comparison_tables.lead_table(lambda name: {}, scale=4) == (
        'No learning-curve run of 3DSeg-T is recorded yet at 4x the budget.\n')
    empty = comparison_tables.convergence_table(lambda name: {})
    assert empty.startswith('No longer run is recorded yet')
    # the comparison's own runs are untouched by the longer ones
    assert 'unet3d-tuned' not in json.load(open(tmp_path / 'benchmarks/paper_tables.json'))
