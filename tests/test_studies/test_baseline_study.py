"""The comparison's tuning grid: equal trial counts and budgets, options the tools take, and
the results file two stages update side by side."""
import json
import multiprocessing

import pytest
from mmseg.registry import MODELS

from conftest import config_with_options
from studies import baseline_study


def test_every_model_gets_the_same_number_of_trials_and_seconds():
    counts = {m: len(spec['trials']) for m, spec in baseline_study.MODELS.items()}
    assert len(set(counts.values())) == 1, counts
    assert set(baseline_study.STEP_SECONDS) == set(baseline_study.MODELS)
    for model in baseline_study.MODELS:
        step = baseline_study.STEP_SECONDS[model]
        for budget in (baseline_study.TUNE_SECONDS, baseline_study.CURVE_SECONDS):
            # a slower model does fewer steps in the same seconds
            assert abs(baseline_study.trial_iters(model, budget) * step - budget) <= step
    assert baseline_study.trial_iters('3dseg-t') == 800
    assert baseline_study.trial_iters('sparseunet') == round(800 * 0.162 / 0.540)


@pytest.mark.parametrize('model', sorted(baseline_study.MODELS))
def test_each_trial_builds_the_recipe_it_names(model):
    spec = baseline_study.MODELS[model]
    for name, options in spec['trials'].items():
        cfg = config_with_options(spec['config'], options)
        optimizer = cfg.optim_wrapper.optimizer
        assert f'lr{optimizer.lr:g}' in name
        assert (optimizer.get('weight_decay', 0) > 0) == (optimizer.type == 'AdamW')
        kind = name.split('-')[-1]
        if kind in ('bn', 'gn'):  # the trial's norm is the one the built model has
            norms = {type(m).__name__ for m in MODELS.build(cfg.model).backbone.modules()}
            want = 'GroupNorm' if kind == 'gn' else 'BatchNorm'
            other = 'BatchNorm' if kind == 'gn' else 'GroupNorm'
            assert any(n.startswith(want) for n in norms), (name, norms)
            assert not any(n.startswith(other) for n in norms), (name, norms)


def _add_rows(path, prefix, count):
    baseline_study.RESULTS = path
    for i in range(count):
        with baseline_study.updating_results() as results:
            results.setdefault('rows', {})[f'{prefix}{i}'] = i


def test_two_writers_lose_no_rows(tmp_path, monkeypatch):
    # the tune and curve stages run as two processes that both update the file
    path = str(tmp_path / 'baselines.json')
    monkeypatch.setattr(baseline_study, 'RESULTS', path)
    ctx = multiprocessing.get_context('fork')
    writers = [ctx.Process(target=_add_rows, args=(path, p, 40)) for p in 'ab']
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    rows = json.load(open(path))['rows']
    assert rows == {f'{p}{i}': i for p in 'ab' for i in range(40)}


def test_curves_refuse_a_model_without_finished_tuning(tmp_path, monkeypatch):
    monkeypatch.setattr(baseline_study, 'RESULTS', str(tmp_path / 'baselines.json'))
    with baseline_study.updating_results() as results:
        results['tuning'] = {'unet3d': dict(iters=1, best='lr0.001-bn', trials={
            'lr0.001-bn': dict(options=['optim_wrapper.optimizer.lr=0.001'])})}
    with pytest.raises(ValueError, match='unet3d has not finished its tuning'):
        baseline_study.best_recipe('unet3d')
    iters = baseline_study.trial_iters('unet3d')
    trials = {name: dict(options=opts, mIoU=1.0, iters=iters, warmup_iters=111)
              for name, opts in baseline_study.MODELS['unet3d']['trials'].items()}
    trials['lr0.003-gn']['mIoU'] = 2.0
    with baseline_study.updating_results() as results:
        results['tuning']['unet3d'] = dict(iters=iters, best='lr0.003-gn', trials=trials)
    # the best learning rate is the largest tried: the edge rule wants a trial further out
    with pytest.raises(ValueError, match='unet3d has not finished'):
        baseline_study.best_recipe('unet3d')
    name, options = baseline_study.edge_trial('unet3d', trials)
    assert name == 'lr0.009-gn'
    assert options == ['optim_wrapper.optimizer.lr=0.009'] + \
        baseline_study.MODELS['unet3d']['choices']['gn']
    trials[name] = dict(options=options, mIoU=1.5, iters=iters, warmup_iters=111)
    with baseline_study.updating_results() as results:
        results['tuning']['unet3d']['trials'] = trials
    assert baseline_study.best_recipe('unet3d') == trials['lr0.003-gn']['options']


def test_edge_rule_goes_both_ways_and_stops():
    def done(scores):
        return {n: dict(mIoU=v) for n, v in scores.items()}

    grid = {'lr0.001-wd0': 5.0, 'lr0.001-wd0.05': 4.0, 'lr0.002-wd0': 3.0,
            'lr0.002-wd0.05': 2.0}
    assert baseline_study.edge_trial('3dseg-t', done(grid))[0] == 'lr0.0005-wd0'
    assert baseline_study.edge_trial('3dseg-t', done({**grid, 'lr0.0005-wd0': 4.5})) is None
    grid['lr0.0005-wd0'] = 6.0
    assert baseline_study.edge_trial('3dseg-t', done(grid))[0] == 'lr0.00025-wd0'
    grid['lr0.00025-wd0'] = 7.0  # still at the edge, but the model had its two extra trials
    assert baseline_study.edge_trial('3dseg-t', done(grid)) is None
    assert baseline_study.edge_trial('3dseg-t', done({'lr0.001-wd0': 9.0})) is None


@pytest.mark.parametrize('model', sorted(baseline_study.MODELS))
def test_every_model_warms_up_for_the_same_seconds(model):
    step = baseline_study.STEP_SECONDS[model]
    spec = baseline_study.MODELS[model]
    # (the seed option only keeps the option list non-empty for the parser)
    cfg = config_with_options(spec['config'],
                              baseline_study.warmup_options(model) + ['randomness.seed=0'])
    warmup, decay = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.begin == 0
    # the decay starts where the warm-up ends, and the warm-up lasts the same seconds
    assert decay.begin == warmup.end
    assert abs(warmup.end * step - baseline_study.WARMUP_SECONDS) <= step / 2
    assert (baseline_study.warmup_options(model) == []) == (warmup.end == 100)


@pytest.mark.slow
def test_tune_then_curves_train_choose_report_and_are_reused(tiny_rooms, tmp_path, monkeypatch):
    """baseline_study.py end to end on four tiny rooms: ``tune`` runs two trials of the U-Net's
    grid (a budget of 2 steps each; a step costs half the tuning budget here) and marks the
    better one on the validation room; ``curves`` trains that recipe for its 8 tuning budgets
    (16 steps, validated every 2), tests the checkpoint validation chose and reports it beside
    ``RESULTS`` (a file of tmp_path: the repository's records are never written); run again,
    nothing trains."""
    import os
    import os.path as osp
    import signal

    from studies import experiments, learning_curves
    monkeypatch.chdir(tmp_path)  # main() moves to the repository: come back after
    repo = osp.join(experiments.ROOT, 'benchmarks')
    mtimes = {n: os.stat(osp.join(repo, n)).st_mtime_ns for n in
              ('baselines.json', 'paper_tables.json', 'learning_curves.png')
              if osp.isfile(osp.join(repo, n))}
    # a study with --options is recorded in its --out (main() points RESULTS there; restored)
    monkeypatch.setattr(baseline_study, 'RESULTS', baseline_study.RESULTS)
    # the budget: 2 steps a trial, warm-up 1 step; two trials of the grid, no edge trials
    monkeypatch.setitem(baseline_study.STEP_SECONDS, 'unet3d', baseline_study.TUNE_SECONDS / 2)
    spec = baseline_study.MODELS['unet3d']
    grid = {n: spec['trials'][n] for n in ('lr0.001-bn', 'lr0.003-bn')}
    monkeypatch.setitem(baseline_study.MODELS, 'unet3d', dict(spec, trials=grid))
    monkeypatch.setattr(baseline_study, 'EDGE_TRIALS', 0)
    assert (baseline_study.trial_iters('unet3d'), baseline_study.curve_iters('unet3d')) == (2, 16)
    out = tmp_path / 'out'
    study_json = out / 'baselines.json'
    tiny = [f'{s}_dataloader.{k}' for s in ('train', 'val', 'test')
            for k in ('num_workers=0', 'persistent_workers=False')]
    common = ['--models', 'unet3d', '--seeds', '0', '--data', tiny_rooms, '--out', str(out),
              '--options', *tiny]
    handler = signal.getsignal(signal.SIGTERM)  # main() makes SIGTERM exit
    try:
        baseline_study.main(['tune', *common])
        tuned = json.load(open(study_json))['tuning']['unet3d']
        assert set(tuned['trials']) == set(grid) and tuned['iters'] == 2
        for name, trial in tuned['trials'].items():
            record = json.load(open(out / 'tune' / 'unet3d' / name / 'record_validation.json'))
            assert trial['mIoU'] == record['metrics']['mIoU'] and 0 <= trial['mIoU'] <= 100
            assert trial['options'] == grid[name] and trial['iters'] == 2
            assert record['config'] == spec['config']
            assert record['options'][-len(tiny) - 1:] == ['randomness.seed=0', *tiny]
            assert 'train_cfg.max_iters=2' in record['options']
            assert osp.isfile(record['checkpoint'])
            assert record['checkpoint'].endswith('iter_2.pth')
        assert tuned['best'] == max(grid, key=lambda n: tuned['trials'][n]['mIoU'])
        baseline_study.main(['curves', *common])
        results = json.load(open(study_json))
        run = results['curves']['unet3d']['0']
        record = json.load(open(out / 'curves' / 'unet3d' / 'seed0' / 'record_curve.json'))
        assert run == {k: v for k, v in record.items() if k != 'config'}
        assert record['config'] == spec['config']
        # the best trial's recipe, the run's --options last
        assert record['options'] == learning_curves.curve_options('unet3d', tiny_rooms, 0, tiny)
        assert record['options'][-len(tiny) - 1 - len(grid[tuned['best']]):-len(tiny) - 1] == \
            grid[tuned['best']]
        assert [p[1] for p in run['curve']] == [2, 4, 6, 8, 10, 12, 14, 16]
        assert all(0 <= p[2] <= 100 for p in run['curve']) and 0 <= run['mIoU'] <= 100
        # the checkpoint validation chose, tested
        assert max(p[2] for p in run['curve']) == next(
            p[2] for p in run['curve'] if p[1] == run['best_iter'])
        assert osp.isfile(out / 'curves' / 'unet3d' / 'seed0' /
                          f"best_mIoU_iter_{run['best_iter']}.pth")
        # reported beside RESULTS: the summary, the table of record's run and the picture
        assert results['curve_summary']['unet3d']['mIoU'] == [run['mIoU']]
        assert results['params']['unet3d'] == 1403054
        paper = json.load(open(out / 'paper_tables.json'))
        assert paper['unet3d-tuned']['mIoU'] == [run['mIoU']]
        assert paper['unet3d-tuned']['iters'] == [16]
        assert (out / 'learning_curves.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
        # both stages again: every trial and the curve are reused, no training log is written
        stamps = {p: os.stat(p).st_mtime_ns for p in out.glob('*train*.log')}
        assert len(stamps) == 3
        baseline_study.main(['tune', *common])
        baseline_study.main(['curves', *common])
        assert {p: os.stat(p).st_mtime_ns for p in out.glob('*train*.log')} == stamps
        assert json.load(open(study_json))['curves'] == results['curves']
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert {n: os.stat(osp.join(repo, n)).st_mtime_ns for n in mtimes} == mtimes
