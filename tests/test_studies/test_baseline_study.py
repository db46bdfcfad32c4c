"""The comparison's tuning grid: equal trial counts and budgets, and options the tools take."""
import pytest
from mmseg.registry import MODELS

from conftest import config_with_options
from studies import baseline_study


def test_every_model_gets_the_same_number_of_trials_and_seconds():
    counts = {m: len(spec['trials']) for m, spec in baseline_study.MODELS.items()}
    assert len(set(counts.values())) == 1, counts
    for model, spec in baseline_study.MODELS.items():
        iters = baseline_study.trial_iters(model)
        # a slower model does fewer steps in the same seconds
        assert abs(iters * spec['step_seconds'] - baseline_study.TUNE_SECONDS) <= spec[
            'step_seconds']
    assert baseline_study.trial_iters('3dseg-t') == 800


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
