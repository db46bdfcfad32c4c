"""Every study row is a config file, and moving a row from ``--cfg-options`` strings into its
file changed no run: the new config merges to what the old base config and option strings
merged to.

The option lists below are the fixed record of what the rows were before they had files
(``studies/kd_study.py`` ``ROWS``, ``studies/experiments.py`` ``schedule_options`` as the
paper tables and ``make demo`` used it); they are data of this test, not read from the code.
"""
import argparse
import inspect
import json

import pytest
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import ROOT, config_with_options
from studies import block_rows, distillation_rows, experiments, kd_study, paper_tables

DISTILL = 'configs/distill/panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py'
MULTIVIEW = DISTILL.replace('.py', '-8views.py')
PANO2D = DISTILL.replace('.py', '+pano2d.py')
TAU1 = ['model.distill_loss.tau=1.0', 'model.distill_loss.class_mean=False']
SURE90 = ['model.distill_loss.min_confidence=0.9']
BALANCED = ['model.distill_loss.class_balanced=True']
VOXEL = ['model.kd_space=voxel']
ORACLE = ['model.type=AnnotationOracleDistiller',
          'train_dataloader.dataset.pipeline.1.with_annotation=True',
          'train_dataloader.dataset.data_prefix.seg_map_path=annotations/training', *TAU1]
# row -> the options it added to the distillation config of its setting
OLD_KD_ROWS = {
    'tau20': [],
    'tau4': ['model.distill_loss.tau=4.0', 'model.distill_loss.class_mean=False'],
    'tau1': TAU1,
    'tau20-sure90': SURE90,
    'tau1-sure90': TAU1 + SURE90,
    'tau1-balanced': TAU1 + BALANCED,
    'tau1-sure90-balanced': TAU1 + SURE90 + BALANCED,
    'tau1-voxel': TAU1 + VOXEL,
    'oracle': ORACLE,
    'oracle-band': ORACLE + ['model.ray_offsets=[-2,-1,0,1,2]'],
    'oracle-smooth40': ORACLE + ['model.smoothing=0.4'],
    'oracle-voxel': ORACLE + VOXEL,
    'tau1+pano2d': TAU1,
    'tau1-voxel+pano2d': TAU1 + VOXEL,
}
# what the run options of a distilled row held besides the row's own (the teacher)
TEACHER = ['model.teacher_checkpoint=t.pth',
           'model.teacher_config=configs/teacher/segmenter_vit-t_synthrooms.py']


def old_schedule(iters):
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}', f'param_scheduler.1.end={iters}']


SECTIONS = ('model', 'train_dataloader', 'param_scheduler', 'train_cfg', 'optim_wrapper')


def with_defaults(model: dict) -> dict:
    """The model's arguments with its class's defaults: a file may state a default the option
    strings left out (the oracle config's ``smoothing=0.1``) and build the same model."""
    params = inspect.signature(MODELS.get(model['type']).__init__).parameters
    return {**{k: p.default for k, p in params.items() if p.default is not p.empty}, **model}


def assert_same_run(new: Config, old: Config) -> None:
    for key in SECTIONS:
        a, b = new.to_dict().get(key), old.to_dict().get(key)
        if key == 'model':
            a, b = with_defaults(a), with_defaults(b)
        assert a == b, key


def test_old_kd_rows_are_the_rows_of_the_study():
    assert set(OLD_KD_ROWS) == set(kd_study.ROWS) - {'control', 'control-labelled'}


@pytest.mark.parametrize('row', list(OLD_KD_ROWS))
def test_a_kd_row_config_is_its_old_options_on_the_distillation_config(row):
    old_base = PANO2D if row.endswith('+pano2d') else DISTILL
    new = config_with_options(kd_study.ROWS[row], TEACHER)
    old = config_with_options(old_base, TEACHER + OLD_KD_ROWS[row])
    assert_same_run(new, old)
    # the row changes what it says it does: not the same run as the plain distillation
    if row != 'tau20':
        assert new.model != config_with_options(old_base, TEACHER).model
    if not row.endswith('+pano2d'):  # the multiview setting: the 8-view config, row added
        new = config_with_options(kd_study.ROWS[row], TEACHER + kd_study.MULTIVIEW)
        assert_same_run(new, config_with_options(MULTIVIEW, TEACHER + OLD_KD_ROWS[row]))


def test_only_a_stated_default_tells_the_oracle_config_from_its_old_options():
    new = Config.fromfile(f'{ROOT}/{kd_study.ROWS["oracle"]}').model
    old = config_with_options(DISTILL, ORACLE).model
    assert {k for k in set(new) | set(old) if new.get(k) != old.get(k)} == {
        'smoothing', 'teacher_config'}  # the oracle has no teacher: its file says so
    assert new.smoothing == inspect.signature(
        MODELS.get('AnnotationOracleDistiller')).parameters['smoothing'].default


SCHEDULE_ROWS = [(name, 800, config) for name, config in block_rows.SCHEDULED[800].items()]


@pytest.mark.parametrize('name,iters,config', SCHEDULE_ROWS + [
    ('demo', 2500, 'configs/3dseg/3dseg-t_1xb2-2500_synthrooms-32.py')])
def test_a_schedule_config_is_the_3k_config_with_its_decay_stretched(name, iters, config):
    old_base = ('configs/3dseg/3dseg-t_synthrooms.py' if name == 'demo'
                else block_rows.CONFIGS[name])
    new = Config.fromfile(f'{ROOT}/{config}')
    old = config_with_options(old_base, old_schedule(iters))
    assert new.to_dict() == old.to_dict()  # the whole config, not only the five sections
    assert (new.train_cfg.max_iters, new.param_scheduler[1].end) == (iters, iters)


def test_paper_table_rows_take_their_config_and_only_a_measured_budget_takes_options():
    assert block_rows.run_config('3dseg-b', 800) == (
        'configs/3dseg/3dseg-b_1xb2-800_synthrooms-32.py', [])
    assert block_rows.run_config('3dseg-t', 3000) == (block_rows.CONFIGS['3dseg-t'], [])
    # the equal-wall-clock U-Net: its iterations come from measured seconds
    config, options = block_rows.run_config('unet3d', 800)
    assert config == block_rows.CONFIGS['unet3d']
    cfg = config_with_options(config, options)
    assert (cfg.train_cfg.max_iters, cfg.param_scheduler[1].end) == (800, 800)
    config, options = block_rows.run_config('3dseg-t', 613)
    cfg = config_with_options(config, options)
    assert (cfg.train_cfg.max_iters, cfg.param_scheduler[1].end, cfg.train_cfg.val_interval) \
        == (613, 613, 613)


def test_runs_finished_before_a_row_had_its_file_are_reused(tmp_path, monkeypatch):
    """A record made with the old base config and option strings names the same run as the
    row's config: ``train_and_test`` returns it instead of training again."""
    data = ['train_dataloader.dataset.data_root=rooms', 'randomness.seed=0']
    record = dict(config=DISTILL, options=data + TEACHER + OLD_KD_ROWS['oracle-voxel'],
                  metrics=dict(mIoU=27.0), checkpoint='x.pth', train_seconds=1.0)
    (tmp_path / 'record_validation.json').write_text(json.dumps(record))
    monkeypatch.setattr(experiments, 'run', lambda *a, **k: pytest.fail('trained again'))
    reused = experiments.train_and_test(str(tmp_path), kd_study.ROWS['oracle-voxel'],
                                        data + TEACHER, str(tmp_path / 'log'), 'validation')
    assert reused['metrics'] == dict(mIoU=27.0)
    # another row, another seed or another student are other runs
    for config, options in ((kd_study.ROWS['oracle'], data + TEACHER),
                            (kd_study.ROWS['oracle-voxel'], data[:1] + ['randomness.seed=1'] +
                             TEACHER)):
        assert not experiments.same_run(record['config'], record['options'], config, options)
    assert not experiments.same_run('configs/gone.py', [], DISTILL, [])


def test_study_drivers_share_their_distillation_arguments():
    args = paper_tables.parse_args(['--labelled-rooms', '3', '--options', 'a=1'])
    assert (args.labelled_rooms, args.options, args.teacher_config) == (
        3, ['a=1'], distillation_rows.TEACHER)
    assert paper_tables.parse_args([]).labelled_rooms is None  # chosen on validation
    p = argparse.ArgumentParser()
    experiments.add_distillation_arguments(p, 'teacher.py')
    experiments.add_options_argument(p)
    args = p.parse_args(['--options', 'x=1', 'y=2'])
    assert (args.labelled_rooms, args.teacher_config, args.options) == (12, 'teacher.py',
                                                                        ['x=1', 'y=2'])
    # a variant is a config file (--recipe), not option strings of its KD term or room runs
    for flag in ('--kd-options', '--room-options'):
        with pytest.raises(SystemExit):
            paper_tables.parse_args([flag, 'a=1'])


def test_make_demo_trains_its_config_as_it_trained_before(tmp_path, monkeypatch):
    """The demo's default block training is the 2 500-iteration config with the data root
    only, and merges to the 3k config with the decay stretched to 2 500 iterations, the run
    it made before; another ``--iters`` still stretches the decay."""
    from conftest import load_tool
    demo = load_tool('demo')
    commands = []
    monkeypatch.setattr(demo, 'run', lambda cmd, log: commands.append(cmd) or 0.0)
    monkeypatch.setattr(demo, 'last_checkpoint', lambda work_dir: 'x.pth')
    monkeypatch.setattr(demo, 'last_metrics', lambda test_dir: {})
    data = str(tmp_path / 'rooms')

    def train_run(argv):
        commands.clear()
        demo.main(['--data', data, '--work-dir', str(tmp_path / 'w'), '--skip-distill'] + argv)
        cmd = next(c for c in commands if c[1] == 'tools/train.py')
        return cmd[2], cmd[cmd.index('--cfg-options') + 1:]

    config, options = train_run([])
    assert config == 'configs/3dseg/3dseg-t_1xb2-2500_synthrooms-32.py'
    assert all('data_root' in o for o in options)
    old = config_with_options('configs/3dseg/3dseg-t_synthrooms.py',
                              options + old_schedule(2500))
    assert config_with_options(config, options).to_dict() == old.to_dict()
    config, options = train_run(['--iters', '1000'])
    cfg = config_with_options(config, options)
    assert (cfg.train_cfg.max_iters, cfg.param_scheduler[1].end) == (1000, 1000)
