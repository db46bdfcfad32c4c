"""Each model's learning-curve run is a config file (``learning_curves.CURVE_CONFIGS``): the
file with the run inputs (data roots and seed) merges to exactly what the driver trains, the
model's config (``baseline_study.MODELS``) with ``learning_curves.curve_options``, whose recipe
is the best trial of the committed ``benchmarks/baselines.json``. A new recipe or budget that
the files do not follow fails here.
"""
import os.path as osp
import re

import pytest
from mmengine.config import Config

from conftest import ROOT, config_with_options
from studies import baseline_study, experiments, learning_curves

DATA = experiments.STUDY_DATA
MODELS = list(baseline_study.MODELS)


def run_inputs(seed: int) -> list:
    """What a curve config leaves to the run, as the study rows do: data roots and seed."""
    return experiments.data_options(DATA) + [f'randomness.seed={seed}']


def driver_run(model: str, seed: int) -> Config:
    """The config a curve run trains: the model's config and the driver's options."""
    return config_with_options(baseline_study.MODELS[model]['config'],
                               learning_curves.curve_options(model, DATA, seed))


def test_every_model_has_its_curve_config_beside_its_config():
    assert set(learning_curves.CURVE_CONFIGS) == set(baseline_study.MODELS)
    for model, config in learning_curves.CURVE_CONFIGS.items():
        assert osp.isfile(osp.join(ROOT, config)), config
        folder = osp.dirname(baseline_study.MODELS[model]['config'])
        assert osp.dirname(config) == osp.join(folder, 'ablations'), config


@pytest.mark.parametrize('model', MODELS)
def test_a_curve_config_with_its_run_inputs_is_the_curve_run(model):
    config = learning_curves.CURVE_CONFIGS[model]
    for seed in (0, 2):
        run = driver_run(model, seed)
        assert config_with_options(config, run_inputs(seed)).to_dict() == run.to_dict(), seed
    # what the file changes is what the curve options change: schedule, recipe, windows
    base = Config.fromfile(osp.join(ROOT, baseline_study.MODELS[model]['config'])).to_dict()
    new = Config.fromfile(osp.join(ROOT, config)).to_dict()
    changed = {k for k in set(base) | set(new) if base.get(k) != new.get(k)}
    assert changed == {'optim_wrapper', 'param_scheduler', 'train_cfg', 'default_hooks',
                       'model'}, model


@pytest.mark.parametrize('model', MODELS)
def test_a_curve_config_names_its_trial_learning_rate_and_iterations(model):
    config = learning_curves.CURVE_CONFIGS[model]
    tuning = baseline_study.load_results()['tuning'][model]
    text = open(osp.join(ROOT, config), encoding='utf-8').read()
    assert f"trial `{tuning['best']}`" in text, config
    name = re.match(r'.*_lr(\d+)e-(\d+)_1xb2-(\d+)_', osp.basename(config))
    lr = float(tuning['trials'][tuning['best']]['options'][0].split('=')[1])
    assert float(f'{name[1]}e-{name[2]}') == lr, config
    assert int(name[3]) == baseline_study.curve_iters(model), config


def test_a_changed_recipe_or_budget_is_another_run(monkeypatch):
    """The comparison fails when the tuning or the clock moves and the files stay."""
    model = 'unet3d'
    file_run = config_with_options(learning_curves.CURVE_CONFIGS[model], run_inputs(0)).to_dict()
    assert file_run == driver_run(model, 0).to_dict()
    recipe = baseline_study.best_recipe(model)
    monkeypatch.setattr(baseline_study, 'best_recipe',
                        lambda m: [o.replace('lr=0.009', 'lr=0.003') for o in recipe])
    assert file_run != driver_run(model, 0).to_dict()
    # another clock (the same recipe): other iterations, validation points and warm-up
    monkeypatch.setattr(baseline_study, 'best_recipe', lambda m: recipe)
    monkeypatch.setitem(baseline_study.STEP_SECONDS, model, 0.150)
    assert file_run != driver_run(model, 0).to_dict()
    monkeypatch.undo()
    monkeypatch.setattr(baseline_study, 'CURVE_POINTS', 10)  # a longer curve
    assert file_run != driver_run(model, 0).to_dict()
