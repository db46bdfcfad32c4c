"""studies/results_tables.py: the committed docs hold exactly the tables the committed JSON
records give, and a table is computed right from a record written here."""
import json
import os
import os.path as osp
import statistics

import pytest

from conftest import ROOT
from studies import distill_tables, results_tables


def test_committed_tables_equal_what_the_committed_records_give():
    stale = [rel for rel, (old, new) in results_tables.generate(ROOT).items() if old != new]
    assert not stale, f'{stale}: run python studies/results_tables.py'


def test_every_table_is_placed_in_the_docs():
    texts = ''.join(open(osp.join(ROOT, rel), encoding='utf-8').read()
                    for rel in results_tables.TARGETS)
    for name in results_tables.TABLES:
        assert f'<!-- results:{name} -->' in texts, name


def _write_record(root, name, record):
    folder = osp.join(root, 'benchmarks')
    os.makedirs(folder, exist_ok=True)
    with open(osp.join(folder, name), 'w') as f:
        json.dump(record, f)


def test_models_table_known_answer(tmp_path):
    _write_record(str(tmp_path), 'paper_tables.json', {
        'unet3d': dict(mIoU=[10.0, 12.0, 17.0], surface_mIoU=[5.0, 5.0, 8.0],
                       mAcc=[20.0, 20.0, 20.0], aAcc=[80.0, 81.0, 82.0],
                       iters=[691, 800, 800], params=1403054),
        '3dseg-t': dict(mIoU=[30.0, 32.0], surface_mIoU=[29.5, 29.5], mAcc=[40.0, 41.0],
                        aAcc=[90.0, 91.0], iters=[800, 800], params=364284),
    })
    table = results_tables.render('paper_tables', str(tmp_path))
    # mean ± sample std, written out: (30, 32) -> 31 ± sqrt(2); (10, 12, 17) -> 13 ± sqrt(13)
    assert statistics.stdev([10.0, 12.0, 17.0]) == pytest.approx(13 ** 0.5)
    assert table == (
        '| run | test mIoU | surface mIoU | mAcc | aAcc | seeds | iterations | parameters |\n'
        '|---|---|---|---|---|---|---|---|\n'
        '| 3DSeg-T (`3dseg-t`) | 31.00 ± 1.41 | 29.50 ± 0.00 | 40.50 ± 0.71 | 90.50 ± 0.71 '
        '| 2 | 800 | 364,284 |\n'
        '| UNet3D, equal wall-clock (`unet3d`) | 13.00 ± 3.61 | 6.00 ± 1.73 | 20.00 ± 0.00 '
        '| 81.00 ± 1.00 | 3 | 691, 800, 800 | 1,403,054 |\n'
        '\nGenerated from `benchmarks/paper_tables.json`.\n')


def test_kd_table_reads_validation_and_test_of_the_one_setting(tmp_path):
    _write_record(str(tmp_path), 'kd_study_labelled.json', {
        'validation': {'labelled': {'tau1': [36.0, 34.0], 'control': [35.0]}},
        'test': {'mIoU': {'labelled': {'control': [33.0, 31.0]}},
                 'surface_mIoU': {'labelled': {'control': [30.0, 30.0]}}}})
    lines = results_tables.render('kd_study_labelled', str(tmp_path)).splitlines()
    assert lines[2] == '| control (no KD) | 1 | 35.00 | 32.00 ± 1.41 | 30.00 ± 0.00 |'
    assert lines[3] == "| tau1 (trained teacher, the paper's pixel-space term) | 2 | " \
                       '35.00 ± 1.41 | — | — |'


def test_fill_replaces_only_between_the_markers(tmp_path):
    _write_record(str(tmp_path), 'recipe_study.json', {
        'unet-1k': dict(mIoU=17.5, surface_mIoU=12.0, mAcc=20.0, aAcc=89.0, iters=1000,
                        params=10, inference_seconds=2.5)})
    load = results_tables.json_loader(str(tmp_path))
    text = 'before\n<!-- results:recipe_study -->\nstale 99.99\n<!-- /results -->\nafter 1.0\n'
    out = results_tables.fill(text, load)
    assert out.startswith('before\n<!-- results:recipe_study -->\n| row |')
    assert out.endswith('<!-- /results -->\nafter 1.0\n')
    assert '99.99' not in out and '| UNet3D, base 16 (`unet-1k`) | 17.50 | 12.00 |' in out
    assert results_tables.fill(out, load) == out  # generating twice changes nothing


def test_links_of_a_table_are_made_relative_to_the_page_that_holds_it(monkeypatch):
    table = ('| [a.py](configs/x/a.py) | [b](benchmarks/b.json) | [web](https://x.org/c) |'
             ' [here](#the-setting) | [root](/configs/y.py) |\n')
    assert results_tables.relink(table, 'README.md') == table
    assert results_tables.relink(table, 'docs/results.md') == (
        '| [a.py](../configs/x/a.py) | [b](../benchmarks/b.json) | [web](https://x.org/c) |'
        ' [here](#the-setting) | [root](/configs/y.py) |\n')
    monkeypatch.setitem(results_tables.TABLES, 'links', lambda load: table)
    text = '<!-- results:links -->\n<!-- /results -->\n'
    assert '](../configs/x/a.py)' in results_tables.fill(text, None, 'docs/results.md')
    assert '](configs/x/a.py)' in results_tables.fill(text, None, 'README.md')


def test_fill_refuses_unknown_tables_and_unclosed_markers(tmp_path):
    load = results_tables.json_loader(str(tmp_path))
    with pytest.raises(ValueError, match="README.md: unknown results table 'nope'"):
        results_tables.fill('<!-- results:nope -->\n<!-- /results -->', load, 'README.md')
    with pytest.raises(ValueError, match='has no "<!-- /results -->"'):
        results_tables.fill('<!-- results:recipe_study -->\n| x |\n', load, 'README.md')
    with pytest.raises(FileNotFoundError, match='recipe_study.json: results record not found'):
        results_tables.fill('<!-- results:recipe_study -->\n<!-- /results -->', load)


def test_check_exits_non_zero_naming_the_stale_file(tmp_path, monkeypatch, capsys):
    for rel in results_tables.TARGETS:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text('<!-- results:recipe_study -->\nold\n<!-- /results -->\n')
    _write_record(str(tmp_path), 'recipe_study.json', {
        't-p2-1k': dict(mIoU=21.0, surface_mIoU=18.0, mAcc=26.0, aAcc=88.0, iters=1000,
                        params=5, inference_seconds=40.0)})
    monkeypatch.setattr(results_tables, 'ROOT', str(tmp_path))
    assert results_tables.main(['--check']) == 1
    assert 'README.md: results tables differ' in capsys.readouterr().out
    assert results_tables.main([]) == 0
    assert results_tables.main(['--check']) == 0
    assert '| 3DSeg-T, patch 2 (`t-p2-1k`) | 21.00 |' in (tmp_path / 'README.md').read_text()


def test_scanned_table_pairs_seeds_and_states_the_unobserved_share():
    from studies.results_tables import scanned_table
    exact = {'3dseg-t': dict(mIoU=[30.0, 32.0], surface_mIoU=[28.0, 29.0], iters=[800, 800])}
    scanned = {'3dseg-t': dict(mIoU=[26.0, 27.0], surface_mIoU=[20.0, 21.0], iters=[800, 800]),
               'scans': dict(frames=100, mean_unobserved=0.176, mean_unobserved_surface=0.19,
                             rooms=96)}
    text = scanned_table({'e.json': exact, 's.json': scanned}.__getitem__, 'e.json', 's.json')
    # paired changes -4 and -5: mean -4.50, sample std 0.71
    assert '| 3DSeg-T (`3dseg-t`) | 31.00 ± 1.41 | 26.50 ± 0.71 | -4.50 ± 0.71 |' in text
    assert '17.6 % of voxels (19.0 % of the surface band) never observed' in text


def test_tuning_table_lists_every_trial_and_marks_the_best():
    from studies.results_tables import tuning_table
    record = {'tuning': {'unet3d': dict(
        iters=811, step_seconds=0.212, best='lr0.003-bn',
        trials={'lr0.001-bn': dict(mIoU=17.0, surface_mIoU=12.0),
                'lr0.003-bn': dict(mIoU=19.5, surface_mIoU=14.25)})}}
    text = tuning_table({'b.json': record}.__getitem__, 'b.json')
    assert '| `unet3d` | `lr0.001-bn` | 17.00 | 12.00 | 811 | 0.212 |' in text
    assert '| `unet3d` | **`lr0.003-bn`** | 19.50 | 14.25 | 811 | 0.212 |' in text


def test_models_table_leaves_the_learning_curve_runs_to_their_own_table(tmp_path):
    _write_record(str(tmp_path), 'paper_tables.json', {
        '3dseg-t': dict(mIoU=[30.0], surface_mIoU=[29.0], mAcc=[40.0], aAcc=[90.0],
                        iters=[800], params=364284),
        '3dseg-t-tuned': dict(mIoU=[55.5], surface_mIoU=[54.5], iters=[6400], params=364284,
                              curve=[[1036.8, 6400, 41.0]]),
    })
    text = results_tables.models_table(results_tables.json_loader(str(tmp_path)))
    assert '30.00' in text and '55.50' not in text and 'tuned' not in text


def _distill_run(miou, **extra):
    return dict(mIoU=[miou], surface_mIoU=[miou - 1], panorama_mIoU=[miou + 1], **extra)


# the earlier record: every distillation run, label-scarce ones without their labelled rooms
_EARLIER = {'teacher': dict(panorama_mIoU=[44.0]), '3dseg-t': _distill_run(31.0),
            '3dseg-t-scarce': _distill_run(33.0), '3dseg-t+room': _distill_run(34.0),
            '3dseg-t+distill-scarce': _distill_run(35.0)}
# the table of record: block-trained runs, a learning-curve run and the labelled-room choice
_RECORD = {'3dseg-t': dict(mIoU=[31.0], surface_mIoU=[29.0], mAcc=[40.0], aAcc=[90.0],
                           iters=[800], params=364284),
           'sparse-unet': dict(mIoU=[40.0], iters=[10], params=5, curve=[[1.0, 10, 39.0]]),
           'scarcity': dict(candidates=[3, 48], validation_mIoU={'3': 25.0, '48': 31.5},
                            all_rooms_mIoU=31.5, margin=3.0, labelled_rooms=3,
                            training_rooms=48, seed=0, iters=800, config='c.py')}


def _loader(records):
    def load(name):
        if name not in records:
            raise FileNotFoundError(name)
        return records[name]
    return load


def test_distill_table_falls_back_to_the_earlier_record_until_the_runs_exist():
    load = _loader({'paper_tables.json': _RECORD, 'paper_tables_distill.json': _EARLIER})
    text = results_tables.TABLES['paper_tables_distill'](load)
    rows = [line.split(' | ')[0] for line in text.splitlines()[2:] if line.startswith('|')]
    assert rows == ['| `3dseg-t`', '| `3dseg-t-scarce`', '| `3dseg-t+room`',
                    '| `3dseg-t+distill-scarce`', '| teacher (2D)']
    assert '| `3dseg-t-scarce` | 33.00 | 32.00 | 34.00 | — |' in text
    assert text.endswith('Generated from `benchmarks/paper_tables_distill.json` '
                         '(label-scarce rows: 12 labelled rooms).\n')


def test_distill_table_reads_the_table_of_record_once_it_holds_the_runs():
    runs = {name: _distill_run(40.0 + i, **({'labelled_rooms': 3} if 'scarce' in name else {}))
            for i, name in enumerate(distill_tables.DISTILL_RUNS)}
    record = dict(_RECORD, teacher=dict(panorama_mIoU=[45.0]), **runs)
    # every run there: the earlier record is not even read
    text = results_tables.TABLES['paper_tables_distill'](_loader({'paper_tables.json': record}))
    assert '| `3dseg-t+distill-scarce` | 45.00 | 44.00 | 46.00 | — |' in text
    assert '| teacher (2D) | — | — | 45.00 | — |' in text
    assert text.endswith('Generated from `benchmarks/paper_tables.json` '
                         '(label-scarce rows: 3 labelled rooms).\n')
    # some runs there: each row from the record that holds it, said row by row
    partial = dict(_RECORD, **{k: runs[k] for k in ('3dseg-t', '3dseg-t-scarce')})
    load = _loader({'paper_tables.json': partial, 'paper_tables_distill.json': _EARLIER,
                    'kd_study_scarce3.json': {}})
    text = results_tables.TABLES['paper_tables_distill'](load)
    assert '| `3dseg-t-scarce` | 41.00 |' in text and '| `3dseg-t+room` | 34.00 |' in text
    assert text.endswith(
        'Generated from `benchmarks/paper_tables.json` (`3dseg-t`, `3dseg-t-scarce`; '
        'label-scarce rows: 3 labelled rooms) and `benchmarks/paper_tables_distill.json` '
        '(`3dseg-t+room`, `3dseg-t+distill-scarce`, `teacher`; label-scarce rows: 12 '
        'labelled rooms).\n')
    # the summary links the record each distillation row comes from
    summary = results_tables.summary_table(load)
    room = next(line for line in summary.splitlines() if 'no teacher' in line)
    assert '| 34.00 | 33.00 | 1 | [paper_tables_distill.json]' in room
    summary = results_tables.summary_table(
        _loader({'paper_tables.json': record, 'kd_study_scarce3.json': {}}))
    room = next(line for line in summary.splitlines() if 'no teacher' in line)
    assert '| 42.00 | 41.00 | 1 | [paper_tables.json]' in room
    # the label-scarce rows: the record's runs, named by their labelled rooms
    scarce = [line for line in summary.splitlines() if 'labelled rooms:' in line]
    assert [line.split(' | ')[:2] for line in scarce] == [
        ['| 3 labelled rooms: fine-tuning, no teacher', '44.00'],
        ['| 3 labelled rooms: distillation, one panorama a room', '45.00']]
    # a run recorded before its count was kept with it had the earlier default, whatever
    # the record chooses now; a run the record lacks is named by the record's choice
    # (the run's own count, not the record's choice, 3)
    record['3dseg-t+room-scarce']['labelled_rooms'] = 6
    summary = results_tables.summary_table(
        _loader({'paper_tables.json': record, 'kd_study_scarce3.json': {}}))
    assert '| 6 labelled rooms: fine-tuning, no teacher | 44.00 |' in summary
    del record['3dseg-t+room-scarce']['labelled_rooms']
    del record['3dseg-t+distill-scarce']
    summary = results_tables.summary_table(_loader({
        'paper_tables.json': record, 'paper_tables_distill.json': {},
        'kd_study_scarce3.json': {}}))
    scarce = [line for line in summary.splitlines() if 'labelled rooms:' in line]
    assert [line.split(' | ')[:2] for line in scarce] == [
        ['| 12 labelled rooms: fine-tuning, no teacher', '44.00'],
        ['| 3 labelled rooms: distillation, one panorama a room', '—']]


def test_distill_gains_are_paired_by_seed_against_each_runs_control():
    record = {'3dseg-t+room': dict(mIoU=[30.0, 32.0, 31.0], surface_mIoU=[20.0, 21.0, 22.0],
                                   panorama_mIoU=[10.0, 10.0, 10.0]),
              '3dseg-t+distill': dict(mIoU=[31.0, 31.5, 31.5], surface_mIoU=[21.0, 23.0, 25.0],
                                      panorama_mIoU=[12.0, 12.0, 12.0]),
              '3dseg-t+room-scarce': dict(mIoU=[20.0, 21.0, 22.0], surface_mIoU=[1.0] * 3,
                                          panorama_mIoU=[1.0] * 3, labelled_rooms=3),
              '3dseg-t+distill-scarce': dict(mIoU=[21.0, 23.0, 25.0], surface_mIoU=[2.0] * 3,
                                             panorama_mIoU=[1.0] * 3, labelled_rooms=3)}
    text = distill_tables.gains_table(_loader({'r.json': record}), 'r.json')
    rows = [line for line in text.splitlines() if line.startswith('| `')]
    # +distill: differences +1, -0.5, +0.5 (mean 0.33, sample std 0.76); surface +1, +2, +3
    assert rows[0] == ('| `3dseg-t+distill` | `3dseg-t+room` | 3 | +0.33 ± 0.76 | +2.00 ± 1.00 '
                       '| +2.00 ± 0.00 | no (+1.00, -0.50, +0.50) |')
    assert rows[1].startswith('| `3dseg-t+distill-scarce` (3 labelled rooms) | '
                              '`3dseg-t+room-scarce` | 3 | +2.00 ± 1.00 |')
    assert rows[1].endswith('| yes (+1.00, +2.00, +3.00) |')
    # the multiview run is not in the record: no row, no error
    assert len(rows) == 2 and text.endswith('Generated from `benchmarks/r.json`.\n')


def _gain_rows(record):
    text = distill_tables.gains_table(_loader({'r.json': record}), 'r.json')
    return [line for line in text.splitlines() if line.startswith('| `')], text


def test_distill_gains_pair_the_same_seeds_or_leave_the_pair_out():
    control = dict(mIoU=[30.0, 32.0, 31.0], surface_mIoU=[20.0, 21.0, 22.0],
                   panorama_mIoU=[10.0, 10.0, 10.0])
    # a run of the first seed only (--first-seed-only): as many numbers as seeds it ran, so
    # it cannot be paired by position; the other tables must still be generated
    record = {'3dseg-t+room': control,
              '3dseg-t+distill': dict(mIoU=[31.0], surface_mIoU=[21.0], panorama_mIoU=[12.0])}
    rows, text = _gain_rows(record)
    assert rows == [] and text.endswith(
        'Not paired: `3dseg-t+distill` (1 seeds) and `3dseg-t+room` (3).\n')
    # with their seeds recorded, the seeds both hold are paired whatever their order: seed 2
    # of the run against seed 2 of the control (31.0), not the control's second number (32.0)
    record['3dseg-t+room'] = dict(control, seeds=[0, 1, 2])
    record['3dseg-t+distill'] = dict(mIoU=[33.0, 30.0], surface_mIoU=[23.0, 20.0],
                                     panorama_mIoU=[11.0, 11.0], seeds=[2, 0])
    rows, _ = _gain_rows(record)
    assert rows == ['| `3dseg-t+distill` | `3dseg-t+room` | 2 | +1.00 ± 1.41 | +0.50 ± 0.71 '
                    '| +1.00 ± 0.00 | no (+2.00, +0.00) |']
    # a metric the record lacks (or holds for fewer seeds) is a dash, not an error, nor a
    # difference against the wrong seed
    record['3dseg-t+distill'] = dict(mIoU=[31.0, 31.5, 31.5], surface_mIoU=[21.0, 23.0],
                                     seeds=[0, 1, 2])
    rows, _ = _gain_rows(record)
    assert rows == ['| `3dseg-t+distill` | `3dseg-t+room` | 3 | +0.33 ± 0.76 | — | — '
                    '| no (+1.00, -0.50, +0.50) |']
    # NaN (a score the run's test did not give) is a dash too
    record['3dseg-t+distill']['surface_mIoU'] = [21.0, float('nan'), 23.0]
    assert _gain_rows(record)[0][0].split(' | ')[4] == '—'


def test_distill_gains_never_pair_runs_of_different_labelled_rooms():
    run = dict(mIoU=[25.0], surface_mIoU=[24.0], panorama_mIoU=[25.0])
    record = {'3dseg-t+room-scarce': dict(run, labelled_rooms=12),
              '3dseg-t+distill-scarce': dict(run, labelled_rooms=3)}
    rows, text = _gain_rows(record)
    assert rows == [] and 'Not paired: `3dseg-t+distill-scarce` (3 labelled rooms) and ' \
        '`3dseg-t+room-scarce` (12).' in text
    record['3dseg-t+room-scarce']['labelled_rooms'] = 3
    assert _gain_rows(record)[0] == [
        '| `3dseg-t+distill-scarce` (3 labelled rooms) | `3dseg-t+room-scarce` | 1 | +0.00 '
        '| +0.00 | +0.00 | no (+0.00) |']


def test_models_table_leaves_distillation_runs_and_the_choice_to_their_tables():
    runs = {'3dseg-t': dict(_RECORD['3dseg-t'], panorama_mIoU=[30.0]),
            '3dseg-t+room': _distill_run(34.0), 'teacher': dict(panorama_mIoU=[45.0])}
    text = results_tables.models_table(_loader({'paper_tables.json': dict(_RECORD, **runs)}))
    rows = [line for line in text.splitlines() if line.startswith('| 3DSeg') or '`' in line]
    assert rows == ['| 3DSeg-T (`3dseg-t`) | 31.00 | 29.00 | 40.00 | 90.00 | 1 | 800 | '
                    '364,284 |', 'Generated from `benchmarks/paper_tables.json`.']


def test_scarcity_table_shows_the_candidates_and_the_choice():
    text = results_tables.TABLES['scarcity'](_loader({'paper_tables.json': _RECORD}))
    assert '| 3 (chosen) | 25.00 | 6.50 |' in text and '| 48 | 31.50 | 0.00 |' in text
    assert 'All 48 training rooms: 31.50; margin 3; chosen: 3 labelled rooms.' in text
    empty = results_tables.TABLES['scarcity'](_loader({'paper_tables.json': {}}))
    assert empty.startswith('No labelled-room count is chosen') and '--choose-scarcity' in empty


def test_every_summary_row_names_the_config_its_driver_ran():
    """The README's summary names a config per row: the one the driver that made the row
    runs (the 800-iteration block rows, the equal-wall-clock U-Net's 3k config, the
    tiles32-tau1 distillation recipe and the KD study's --losses tiles32 rows)."""
    from studies import block_rows, distillation_rows, kd_study
    tiles = distillation_rows.RECIPES['tiles32-tau1']
    expected = {
        ('paper_tables.json', '3dseg-t'): block_rows.SCHEDULED[800]['3dseg-t'],
        ('paper_tables.json', '3dseg-b'): block_rows.SCHEDULED[800]['3dseg-b'],
        # seeds whose measured iterations came to 800 share the 800-iteration run
        ('paper_tables.json', 'unet3d'): (block_rows.run_config('unet3d', 800)[0],
                                          block_rows.SCHEDULED[800]['unet3d-equal-iters']),
        ('paper_tables.json', '3dseg-t-noskip'): block_rows.SCHEDULED[800]['3dseg-t-noskip'],
        (results_tables.DISTILL, '3dseg-t+room'): tiles['3dseg-t+room'],
        (results_tables.DISTILL, '3dseg-t+distill'): tiles['3dseg-t+distill'],
        (results_tables.DISTILL, '3dseg-t+distill-multiview'): tiles[
            '3dseg-t+distill-multiview'],
        ('paper_tables.json', '3dseg-t+room-scarce'): tiles['3dseg-t+room-scarce'],
        ('paper_tables.json', '3dseg-t+distill-scarce'): tiles['3dseg-t+distill-scarce'],
        ('kd_study_scarce3.json', 'tau1-voxel'): kd_study.TILES_ROWS['tau1-voxel'],
    }
    assert {(source, path[-1]): config for _, source, path, config in
            results_tables.SUMMARY} == expected
    assert all(osp.isfile(osp.join(ROOT, c)) for v in expected.values()
               for c in ((v,) if isinstance(v, str) else v))
    line = results_tables.summary_table(_loader({
        'paper_tables.json': _RECORD, 'paper_tables_distill.json': {},
        'kd_study_scarce3.json': {}})).splitlines()[2]
    assert line.endswith('| [3dseg-t_1xb2-800_synthrooms-32.py]'
                         '(configs/3dseg/3dseg-t_1xb2-800_synthrooms-32.py) |')
