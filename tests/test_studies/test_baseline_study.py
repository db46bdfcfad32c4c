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
