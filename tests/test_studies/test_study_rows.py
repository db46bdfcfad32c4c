"""The rows of studies/teacher_study.py and studies/recipe_study.py are config files, and moving
a row from ``--cfg-options`` strings into its file changed no run: the row's config with the
run inputs the driver adds merges to what the old base config and option strings merged to.

The option lists below are the fixed record of what the rows were before they had files
(``ROWS`` of the two drivers, ``studies/experiments.py`` ``schedule_options``); they are data
of this test, not read from the code.
"""
import json
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import ROOT, config_with_options
from studies import experiments, recipe_study, teacher_study

TEACHER_1K = 'configs/teacher/segmenter_vit-t_mask_1xb4-1k_synthrooms-128x256.py'
PANO2D_128 = 'configs/teacher/segmenter_vit-t_mask_1xb4-4k_synthrooms+pano2d-128x256.py'
PANO2D_CROP = 'configs/teacher/segmenter_vit-t_mask_1xb4-4k_synthrooms+pano2d-256x128.py'
# the run inputs of a teacher row: data roots (both spellings), class weights, a checkpoint
DATA = [f'{k}_dataloader.dataset.data_root=rooms' for k in ('train', 'val', 'test')]
PANO2D_DATA = ['train_dataloader.dataset.datasets.0.data_root=rooms',
               'train_dataloader.dataset.datasets.1.data_root=pano2d',
               'val_dataloader.dataset.data_root=rooms', 'test_dataloader.dataset.data_root=rooms']
WEIGHTS = 'model.decode_head.loss_decode.class_weight=[' + ','.join(['0.5', '2.0'] * 15) + ']'


def plain(config):
    """A config of the repository as its file says, no option added."""
    return Config.fromfile(osp.join(ROOT, config))


def old_schedule(iters):
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}', f'param_scheduler.1.end={iters}']


# row -> (the config it ran, its iterations, extra options, balanced, row it started from)
OLD_TEACHER_ROWS = {
    'p16-1k': (TEACHER_1K, 1000, [], False, None),
    'p8-1k': (TEACHER_1K, 1000, ['model.backbone.patch_size=8'], False, None),
    'p16-1k-balanced': (TEACHER_1K, 1000, [], True, None),
    'p16-4k': (TEACHER_1K, 4000, [], False, None),
    'p16-4k-balanced': (TEACHER_1K, 4000, [], True, None),
    'p16-4k-balanced-pano2d': (PANO2D_128, 4000, [], True, None),
    'p16-4k-balanced-pano2d-crop': (PANO2D_CROP, 4000, [], True, None),
    'p16-8k-balanced-pano2d-crop': (PANO2D_CROP, 8000, [], True, None),
    'p16-8k+12k-balanced-pano2d-crop': (PANO2D_CROP, 12000, [], True,
                                        'p16-8k-balanced-pano2d-crop'),
    'p16-20k+8k-balanced-pano2d-crop': (PANO2D_CROP, 8000, [], True,
                                        'p16-8k+12k-balanced-pano2d-crop'),
}
# the options every old recipe row added besides its own, and each row's own
TEST_WINDOW = ['model.test_cfg.crop_size=32', 'model.test_cfg.stride=16']
T = 'configs/3dseg/3dseg-t_1xb2-3k_synthrooms-32.py'
B = 'configs/3dseg/3dseg-b_1xb2-3k_synthrooms-32.py'
UNET = 'configs/unet3d/unet3d_1xb2-3k_synthrooms-32.py'
OLD_RECIPE_ROWS = {
    't-p2-1k': (T, 1000, ['model.backbone.patch_size=2']),
    'unet-1k': (UNET, 1000, []),
    't-p4-4k': (T, 4000, ['model.backbone.patch_size=4']),
    't-p2-3k': (T, 3000, ['model.backbone.patch_size=2']),
    'b-p2-1k': (B, 1000, ['model.backbone.patch_size=2']),
    'unet-3k': (UNET, 3000, []),
}


def old_teacher_options(row):
    config, iters, extra, balanced, init = OLD_TEACHER_ROWS[row]
    data = DATA if config == TEACHER_1K else PANO2D_DATA
    return data + old_schedule(iters) + extra + ([WEIGHTS] if balanced else []) + (
        [f'load_from=work/{init}/iter.pth'] if init else [])


@pytest.fixture
def finished_rows(tmp_path, monkeypatch):
    """A study folder where every row has finished (its checkpoint: ``work/ROW/iter.pth``),
    the class weights of any roots ``WEIGHTS``."""
    for row in teacher_study.ROWS:
        (tmp_path / row).mkdir()
        (tmp_path / row / 'record_validation.json').write_text(
            json.dumps(dict(checkpoint=f'work/{row}/iter.pth')))
    monkeypatch.setattr(teacher_study, 'class_weight_option', lambda roots: WEIGHTS)
    return str(tmp_path)


def test_old_rows_are_the_rows_of_the_studies():
    assert list(OLD_TEACHER_ROWS) == list(teacher_study.ROWS)
    assert list(OLD_RECIPE_ROWS) == list(recipe_study.ROWS)


@pytest.mark.parametrize('row', list(OLD_TEACHER_ROWS))
def test_a_teacher_row_config_with_its_run_inputs_is_its_old_run(row, finished_rows):
    config = teacher_study.ROWS[row].config
    assert osp.isfile(osp.join(ROOT, config))
    _, inputs = teacher_study.run_inputs(row, 'rooms', 'pano2d', finished_rows)
    old = config_with_options(OLD_TEACHER_ROWS[row][0], old_teacher_options(row))
    assert config_with_options(config, inputs).to_dict() == old.to_dict()
    # the file differs from the config it started from in what the row says it does
    base = plain(OLD_TEACHER_ROWS[row][0]).to_dict()
    new = plain(config).to_dict()
    changed = {k for k in set(base) | set(new) if base.get(k) != new.get(k)}
    if config.startswith(teacher_study.ABLATIONS):
        assert changed >= {'train_cfg', 'default_hooks'}, row
        assert changed <= {'train_cfg', 'default_hooks', 'param_scheduler', 'model'}, row
        assert ('model' in changed) == (row == 'p8-1k'), row
    else:  # a row that equals a config of the repository points at it
        assert changed == set(), row


def test_teacher_row_files_say_their_patch_iterations_and_crop():
    for row, (_, iters, extra, _, _) in OLD_TEACHER_ROWS.items():
        cfg = plain(teacher_study.ROWS[row].config)
        assert (cfg.train_cfg.max_iters, cfg.param_scheduler[1].end) == (iters, iters), row
        assert cfg.model.backbone.patch_size == (8 if extra else 16), row
        crop = (256, 128) if row.endswith('-crop') else (128, 256)
        assert tuple(cfg.model.data_preprocessor.size) == crop, row
        assert teacher_study.trains_on_pano2d(row) == ('pano2d' in row), row
        name = osp.basename(teacher_study.ROWS[row].config)
        assert '{}x{}'.format(*crop) in name and ('pano2d' in name) == ('pano2d' in row), row


@pytest.mark.parametrize('row', list(OLD_RECIPE_ROWS))
def test_a_recipe_row_config_with_its_run_inputs_is_its_old_run(row):
    base, iters, extra = OLD_RECIPE_ROWS[row]
    seed = ['randomness.seed=0']
    old = config_with_options(base, DATA + old_schedule(iters) + TEST_WINDOW + extra + seed)
    new = config_with_options(recipe_study.ROWS[row], DATA + seed)
    assert new.to_dict() == old.to_dict()
    assert (new.train_cfg.max_iters, new.param_scheduler[1].end) == (iters, iters)
    # each row differs from the 3k config it came from: its schedule, and patch 4 its model
    before = plain(base).to_dict()
    assert new.train_cfg != before['train_cfg']
    assert (new.model != before['model']) == (row == 't-p4-4k')


def test_the_teacher_driver_passes_each_row_its_config_and_run_inputs(finished_rows,
                                                                      tmp_path, monkeypatch):
    data = tmp_path / 'rooms'
    (data / 'images' / 'training').mkdir(parents=True)
    (data / 'images' / 'training' / 'room_00000.png').write_bytes(b'')
    runs = []

    def fake_train_and_test(work_dir, config, options, log, **kwargs):
        runs.append((osp.basename(work_dir), config, options))
        return dict(metrics=dict(mIoU=1.0, mAcc=2.0, aAcc=3.0), train_seconds=4.0)

    monkeypatch.setattr(experiments, 'train_and_test', fake_train_and_test)
    monkeypatch.setattr(experiments, 'run', lambda *a, **k: pytest.fail('a tool ran'))
    rendered = []  # the labelled rooms' views, rendered before any row trains
    monkeypatch.setattr(experiments, 'render_views',
                        lambda data, log: rendered.append((data, len(runs))))
    rows = ['p8-1k', 'p16-4k-balanced', 'p16-20k+8k-balanced-pano2d-crop']
    pano2d = tmp_path / 'pano2d'
    (pano2d / 'splits').mkdir(parents=True)
    (pano2d / 'splits' / 'training.txt').write_text('room_00000\n')
    (pano2d / 'images' / 'training').mkdir(parents=True)
    assert teacher_study.main(['--data', str(data), '--out', finished_rows, '--pano2d',
                               str(pano2d), '--rows', *rows]) == 0
    d, p = str(data), str(pano2d)
    assert rendered == [(d, 0)]
    assert runs == [
        ('p8-1k', teacher_study.ROWS['p8-1k'].config, experiments.data_options(d)),
        ('p16-4k-balanced', teacher_study.ROWS['p16-4k'].config,
         experiments.data_options(d) + [WEIGHTS]),
        ('p16-20k+8k-balanced-pano2d-crop', teacher_study.CROP_8K,
         experiments.pano2d_options(d, p) +
         [WEIGHTS, 'load_from=work/p16-8k+12k-balanced-pano2d-crop/iter.pth'])]
    results = json.load(open(osp.join(finished_rows, 'teacher_study.json')))
    assert results['p16-20k+8k-balanced-pano2d-crop']['iters'] == 28000
    assert results['p8-1k']['config'] == teacher_study.ROWS['p8-1k'].config


def test_the_recipe_driver_passes_each_row_its_config_the_data_and_the_seed(monkeypatch,
                                                                          tmp_path):
    seen = []
    monkeypatch.setattr(experiments, 'train_and_test',
                        lambda work_dir, config, options, log, **kw: seen.append(
                            (config, options)) or dict(metrics={}, train_seconds=1.0))
    record, config = recipe_study.run_row(
        type('Args', (), dict(data='rooms', out=str(tmp_path), options=[])), 't-p4-4k')
    assert seen == [(recipe_study.ROWS['t-p4-4k'], DATA + ['randomness.seed=0'])]
    assert (config, record['iters']) == (recipe_study.ROWS['t-p4-4k'], 4000)


def test_teacher_runs_finished_before_the_row_had_its_file_are_reused(finished_rows,
                                                                      monkeypatch):
    """A record made with the old base config and option strings names the same run as the
    row's config with its run inputs: ``train_and_test`` returns it instead of training."""
    row = 'p16-8k+12k-balanced-pano2d-crop'
    work = osp.join(finished_rows, row)
    _, inputs = teacher_study.run_inputs(row, 'rooms', 'pano2d', finished_rows)
    old_options = old_teacher_options(row)
    record = dict(config=PANO2D_CROP, options=old_options, metrics=dict(mIoU=44.0),
                  checkpoint='x.pth', train_seconds=1.0)
    with open(osp.join(work, 'record_validation.json'), 'w') as f:
        json.dump(record, f)
    monkeypatch.setattr(experiments, 'run', lambda *a, **k: pytest.fail('trained again'))
    reused = experiments.train_and_test(work, teacher_study.ROWS[row].config, inputs,
                                        osp.join(work, 'log'), 'validation')
    assert reused['metrics'] == dict(mIoU=44.0)
    # the 8k row (same file, no load_from) and other class weights are other runs
    _, other = teacher_study.run_inputs('p16-8k-balanced-pano2d-crop', 'rooms', 'pano2d',
                                        finished_rows)
    assert not experiments.same_run(PANO2D_CROP, old_options, teacher_study.CROP_8K, other)
    assert not experiments.same_run(PANO2D_CROP, old_options, teacher_study.ROWS[row].config,
                                    [o.replace('0.5', '0.25') for o in inputs])
