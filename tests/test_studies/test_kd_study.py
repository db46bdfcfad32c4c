"""studies/kd_study.py: each row is a paper-table run with only its KD term changed."""
import argparse
import json
import os.path as osp

import pytest

from conftest import config_with_options
from studies import kd_study


def _args(tables):
    return argparse.Namespace(tables=str(tables), data='rooms', labelled_rooms=12, iters=800,
                              teacher_config=kd_study.TEACHER, teacher_checkpoint='t.pth',
                              options=['model.train_cfg.mode=tiles'], pano2d='pano',
                              pano2d_rooms=96, losses='whole')


def test_rows_change_the_kd_term_of_the_paper_table_runs_only(tmp_path):
    for name in ('3dseg-t', '3dseg-t-scarce'):
        (tmp_path / 'seed0' / name).mkdir(parents=True)
        (tmp_path / 'seed0' / name / 'record_test.json').write_text(
            json.dumps(dict(checkpoint=f'{name}.pth')))
    expected = {'tau20': (20.0, True, 0, False), 'tau4': (4.0, False, 0, False),
                'tau1': (1.0, False, 0, False), 'tau20-sure90': (20.0, True, 0.9, False),
                'tau1-sure90': (1.0, False, 0.9, False), 'tau1-balanced': (1.0, False, 0, True),
                'tau1-sure90-balanced': (1.0, False, 0.9, True), 'oracle': (1.0, False, 0, False),
                'oracle-band': (1.0, False, 0, False), 'oracle-smooth40': (1.0, False, 0, False),
                'tau1-voxel': (1.0, False, 0, False), 'oracle-voxel': (1.0, False, 0, False),
                'tau1+pano2d': (1.0, False, 0, False), 'tau1-voxel+pano2d': (1.0, False, 0, False)}
    assert set(expected) == set(kd_study.ROWS) - {'control', 'control-labelled'}
    for setting in kd_study.SETTINGS:
        for row in kd_study.ROWS:
            only = ('scarce' if row == 'control-labelled' else
                    'labelled' if row.endswith('+pano2d') else setting)
            if setting != only:
                with pytest.raises(ValueError, match=f'{only} setting only, not of {setting}'):
                    kd_study.run_options(_args(tmp_path), 0, setting, row)
                continue
            cfg = config_with_options(*kd_study.run_options(_args(tmp_path), 0, setting, row))
            rooms = cfg.train_dataloader.dataset
            if row.endswith('+pano2d'):  # the labelled rooms, then panorama-only rooms
                assert rooms.type == 'ConcatDataset'
                rooms, panorama_only = rooms.datasets
                assert (panorama_only.data_root, panorama_only.indices,
                        panorama_only.labelled_rooms) == ('pano', 96, 0)
                assert panorama_only.pipeline == rooms.pipeline
            # the student of the setting, the same rooms, seed and schedule in every row
            assert cfg.load_from == ('3dseg-t-scarce.pth' if setting == 'scarce'
                                     else '3dseg-t.pth')
            assert rooms.data_root == 'rooms'
            assert cfg.randomness.seed == 0
            assert cfg.train_cfg.max_iters == 120
            assert cfg.model.train_cfg.mode == 'tiles'  # --options reach every row
            assert rooms.get('labelled_rooms') == (12 if setting == 'scarce' else None)
            # control-labelled fine-tunes on the labelled rooms alone
            assert rooms.get('indices') == (12 if row == 'control-labelled' else None)
            if row.startswith('control'):
                assert cfg.model.type != 'PanoDistiller'
                continue
            pipeline = rooms.pipeline
            assert pipeline[1].type == 'LoadPanorama'
            assert cfg.model.get('ray_offsets', [0]) == ([-2, -1, 0, 1, 2] if 'band' in row
                                                         else [0])
            assert cfg.model.get('kd_space', 'pixel') == ('voxel' if 'voxel' in row
                                                          else 'pixel')
            if row.startswith('oracle'):  # the label panoramas in the teacher's place
                assert cfg.model.type == 'AnnotationOracleDistiller'
                assert cfg.model.get('smoothing', 0.1) == (0.4 if 'smooth40' in row else 0.1)
                assert pipeline[1].with_annotation
                assert rooms.data_prefix.seg_map_path == 'annotations/training'
            else:
                assert cfg.model.type == 'PanoDistiller'
                assert not pipeline[1].get('with_annotation', False)
            assert cfg.model.teacher_checkpoint == 't.pth'
            # the multiview setting distils from the 8 panoramas of every room
            views = rooms.get('num_views', 1)
            assert views == (8 if setting == 'multiview' else 1)
            loss = cfg.model.distill_loss
            assert (loss.tau, loss.get('class_mean', True), loss.get('min_confidence', 0),
                    loss.get('class_balanced', False)) == expected[row], row


def test_settings_that_share_a_control_share_its_run():
    assert kd_study.run_name(0, 'multiview', 'control') == 'seed0_labelled_control'
    assert kd_study.run_name(1, 'scarce', 'control') == 'seed1_scarce_control'
    assert kd_study.run_name(0, 'multiview', 'tau1') == 'seed0_multiview_tau1'


def test_a_missing_student_names_the_record_and_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match='paper_tables.py --students for seed 0'):
        kd_study.run_options(_args(tmp_path), 0, 'labelled', 'tau1')


def test_only_rows_without_a_teacher_run_without_its_checkpoint(capsys):
    with pytest.raises(SystemExit):
        kd_study.main(['--rows', 'control', 'tau1'])
    assert "--teacher-checkpoint is needed by rows ['tau1']" in capsys.readouterr().err


def test_report_test_tests_the_chosen_checkpoints_without_training_them_again(
        tmp_path, monkeypatch):
    for name in ('3dseg-t', '3dseg-t-scarce'):
        (tmp_path / 'seed0' / name).mkdir(parents=True)
        (tmp_path / 'seed0' / name / 'record_test.json').write_text(
            json.dumps(dict(checkpoint=f'{name}.pth')))
    trained, tested = [], []
    score = {'control': 20.0, 'oracle': 23.0}

    def train_and_test(work_dir, config, options, log_prefix, split, keys):
        trained.append((osp.basename(work_dir), split))
        return dict(metrics=dict(mIoU=score[work_dir.rsplit('_', 1)[1]]))

    def test_finished(work_dir, log_prefix, split):
        tested.append((osp.basename(work_dir), split))
        base = score[work_dir.rsplit('_', 1)[1]]
        return dict(metrics=dict(mIoU=base - 1, surface_mIoU=base - 2))

    monkeypatch.setattr(kd_study.experiments, 'train_and_test', train_and_test)
    monkeypatch.setattr(kd_study.experiments, 'test_finished', test_finished)
    out = tmp_path / 'out'
    kd_study.main(['--tables', str(tmp_path), '--out', str(out), '--settings', 'scarce',
                   '--rows', 'control', 'oracle', '--seeds', '0', '--labelled-rooms', '3',
                   '--report-test'])
    runs = ['seed0_scarce_control', 'seed0_scarce_oracle']
    assert trained == [(r, 'validation') for r in runs]
    assert tested == [(r, 'test') for r in runs]
    results = json.load(open(out / 'kd_study.json'))
    assert results['validation'] == {'scarce': {'control': [20.0], 'oracle': [23.0]}}
    assert results['test'] == {'mIoU': {'scarce': {'control': [19.0], 'oracle': [22.0]}},
                               'surface_mIoU': {'scarce': {'control': [18.0],
                                                           'oracle': [21.0]}}}
    report = (out / 'kd_study.md').read_text()
    assert 'Test rooms, surface mIoU (reported only):\n\n| setting | control | oracle |' in report
    assert report.endswith('| scarce | 18.00 | 21.00 |\n')


@pytest.mark.slow
def test_two_rows_train_validate_report_and_are_reused(tiny_rooms, tmp_path, monkeypatch):
    """kd_study.py end to end on four tiny rooms: the no-KD control and the oracle-voxel row
    (its own config; no teacher to train) fine-tune the same student for 2 steps, are scored
    on the validation rooms and written to the JSON and table; run again, nothing trains."""
    import os

    import torch

    from segmenter3d.apis import init_segmentor
    monkeypatch.chdir(tmp_path)  # main() moves to the repository: come back after
    student = tmp_path / 'tables' / 'seed0' / '3dseg-t'
    student.mkdir(parents=True)
    torch.manual_seed(0)
    model = init_segmentor(f'{kd_study.ROOT}/configs/3dseg/3dseg-t_1xb2-3k_synthrooms-32.py')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), student / 'init.pth')
    (student / 'record_test.json').write_text(json.dumps(dict(checkpoint=str(student /
                                                                                'init.pth'))))
    out = tmp_path / 'out'
    tiny = ['train_cfg.max_iters=2'] + [
        f'{s}_dataloader.{k}' for s in ('train', 'val', 'test')
        for k in ('num_workers=0', 'persistent_workers=False')]
    argv = ['--tables', str(tmp_path / 'tables'), '--out', str(out), '--data', tiny_rooms,
            '--settings', 'labelled', '--rows', 'control', 'oracle-voxel', '--seeds', '0',
            '--options', *tiny]
    assert kd_study.main(argv) == 0
    results = json.load(open(out / 'kd_study.json'))
    assert list(results) == ['labelled'] and list(results['labelled']) == ['control',
                                                                           'oracle-voxel']
    for row, (miou, ) in results['labelled'].items():
        run = out / f'seed0_labelled_{row}'
        record = json.load(open(run / 'record_validation.json'))
        assert record['metrics']['mIoU'] == miou and 0 <= miou <= 100
        assert osp.isfile(record['checkpoint']) and record['checkpoint'].endswith('iter_2.pth')
        # the row's run is its config file; the options carry the per-run settings only
        assert record['config'] == (kd_study.DISTILL_CONFIGS['3dseg-t+room'] if row == 'control'
                                    else kd_study.ROWS[row])
        assert f'load_from={student / "init.pth"}' in record['options']
        assert not [o for o in record['options'] if 'distill_loss' in o or 'kd_space' in o]
        log = open(f'{run}_train.log').read()
        assert ('loss_dist' in log) is (row != 'control'), row
    table = (out / 'kd_study.md').read_text()
    assert table.endswith(f"| labelled | {results['labelled']['control'][0]:.2f} | "
                          f"{results['labelled']['oracle-voxel'][0]:.2f} |\n")
    # a second run reuses the finished runs: no training log is written again
    stamps = {p: os.stat(p).st_mtime_ns for p in out.glob('*_train.log')}
    assert len(stamps) == 2
    assert kd_study.main(argv) == 0
    assert {p: os.stat(p).st_mtime_ns for p in out.glob('*_train.log')} == stamps
    assert json.load(open(out / 'kd_study.json')) == results


TILES = ['model.train_cfg.mode=tiles', 'model.train_cfg.crop_size=32']


def _students(tmp_path):
    for name in ('3dseg-t', '3dseg-t-scarce'):
        (tmp_path / 'seed0' / name).mkdir(parents=True, exist_ok=True)
        (tmp_path / 'seed0' / name / 'record_test.json').write_text(
            json.dumps(dict(checkpoint=f'{name}.pth')))


def test_losses_tiles32_is_each_row_with_the_tiles_options_it_was_run_with(tmp_path, capsys):
    """The tables of record ran the KD study's rows with ``--options`` for 32^3 tiles; with
    ``--losses tiles32`` a row's file holds them: the same run, option for option."""
    _students(tmp_path)
    whole = argparse.Namespace(**{**vars(_args(tmp_path)), 'options': []})
    tiles = argparse.Namespace(**{**vars(whole), 'losses': 'tiles32'})
    checked = 0
    for setting in kd_study.SETTINGS:
        for row in kd_study.TILES_ROWS:
            try:
                old = kd_study.run_options(whole, 0, setting, row)
            except ValueError:  # a row of another setting
                continue
            new = config_with_options(*kd_study.run_options(tiles, 0, setting, row))
            old = config_with_options(old[0], old[1] + TILES)
            assert new.to_dict() == old.to_dict(), (setting, row)
            assert (new.model.train_cfg.mode, new.model.train_cfg.crop_size) == ('tiles', 32)
            checked += 1
    # control and 3 KD rows in each of the 3 settings, control-labelled (scarce) and
    # tau1-voxel+pano2d (labelled)
    assert checked == 4 * 3 + 1 + 1
    with pytest.raises(ValueError, match='row tau4 has no config with --losses tiles32'):
        kd_study.run_options(tiles, 0, 'labelled', 'tau4')
    with pytest.raises(SystemExit):
        kd_study.main(['--losses', 'tiles32', '--rows', 'tau4', '--teacher-checkpoint', 't'])
    assert "rows ['tau4'] have no config with --losses tiles32" in capsys.readouterr().err
