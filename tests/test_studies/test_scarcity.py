"""studies/scarcity.py and paper_tables.py --choose-scarcity: the labelled-room count of the
label-scarce runs is chosen on the validation rooms by its rule, recorded once, read back by
``--distill`` (an explicit ``--labelled-rooms`` winning) and the runs join the table of record."""
import json
import os.path as osp
import re

import pytest

from studies import block_rows, distillation_rows, paper_outputs, paper_tables, scarcity

# validation mIoU of the student on the first k rooms; the all-rooms student scores 31.4
SCORES = {3: 20.0, 6: 27.5, 12: 33.3}
ALL_ROOMS = 31.4


def test_rule_picks_the_largest_count_below_the_all_rooms_student_by_the_margin():
    # gaps 11.4, 3.9, -1.9: 6 is the largest data-bound count
    assert scarcity.data_bound_count(SCORES, ALL_ROOMS) == 6
    assert scarcity.data_bound_count(SCORES, ALL_ROOMS, margin=5.0) == 3
    # not monotone in k: the largest count that is far enough below wins
    assert scarcity.data_bound_count({3: 30.0, 6: 20.0, 12: 31.0}, ALL_ROOMS) == 6


def test_rule_ties_the_all_rooms_case_and_no_data_bound_count():
    # a gap of exactly the margin is not "more than" it, also where floats make it more
    assert 32.02 - 29.02 > 3.0  # 3.0000000000000036
    assert scarcity.data_bound_count({3: 29.02, 6: 29.02}, 32.02) is None
    assert scarcity.data_bound_count({3: 28.4, 6: 28.4}, ALL_ROOMS) is None
    # equal scores, both data-bound: the larger count
    assert scarcity.data_bound_count({3: 28.39, 6: 28.39}, ALL_ROOMS) == 6
    # the all-rooms student itself is never data-bound
    assert scarcity.data_bound_count({48: ALL_ROOMS}, ALL_ROOMS) is None
    assert scarcity.data_bound_count({12: 33.3, 48: ALL_ROOMS}, ALL_ROOMS) is None
    assert scarcity.data_bound_count({}, ALL_ROOMS) is None


def _rooms(tmp_path, count=48):
    data = tmp_path / 'rooms'
    (data / 'splits').mkdir(parents=True)
    (data / 'splits' / 'training.txt').write_text('\n'.join(f'r{i}' for i in range(count)))
    return str(data)


def _fake_training(calls, scores=SCORES, all_rooms=ALL_ROOMS):
    """experiments.train_and_test scoring a run by the rooms its options keep."""
    def train_and_test(work_dir, config, options, log, split='test', **kwargs):
        kept = [int(o.split('=')[1]) for o in options if o.startswith(
            'train_dataloader.dataset.indices=')]
        calls.append((osp.basename(work_dir), config, list(options), split))
        miou = scores[kept[0]] if kept else all_rooms
        return dict(metrics=dict(mIoU=miou, surface_mIoU=miou - 2, mAcc=50.0, aAcc=90.0),
                    checkpoint=f'{work_dir}.pth', train_seconds=1.0)
    return train_and_test


def test_choose_validates_each_candidate_once_and_never_the_test_rooms(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(scarcity.experiments, 'train_and_test', _fake_training(calls))
    data = _rooms(tmp_path)
    entry = scarcity.choose(data, str(tmp_path / 'out'), 'c.py', 800, [12, 3, 6, 48, 60])
    # the all-rooms run once (48 and 60 are every room), then each smaller count
    assert [c[0] for c in calls] == ['all', 'rooms3', 'rooms6', 'rooms12']
    assert {c[3] for c in calls} == {'validation'}
    assert all('randomness.seed=0' in c[2] and c[1] == 'c.py' for c in calls)
    assert entry['candidates'] == [3, 6, 12, 48]
    assert entry['validation_mIoU'] == {'3': 20.0, '6': 27.5, '12': 33.3, '48': ALL_ROOMS}
    assert (entry['labelled_rooms'], entry['margin'], entry['all_rooms_mIoU']) == (6, 3.0, 31.4)
    assert (entry['split'], entry['iters'], entry['data'], entry['training_rooms']) == (
        'validation', 800, data, 48)
    with pytest.raises(ValueError, match='must be >= 1, got 0'):
        scarcity.choose(data, str(tmp_path / 'out'), 'c.py', 800, [0, 3])


def test_a_recorded_choice_is_read_for_its_rooms_and_iterations_only():
    entry = dict(labelled_rooms=6, data='data/synthrooms-study', iters=800, candidates=[3, 6],
                 margin=3.0)
    record = {'3dseg-t': {}, 'scarcity': entry}
    assert scarcity.recorded_count(record, 'p.json', 'data/synthrooms-study', 800) == 6
    with pytest.raises(ValueError, match=r'p.json: no "scarcity" entry.*--choose-scarcity '
                       r'--data data/synthrooms-study --iters 800 --record'):
        scarcity.recorded_count({}, 'p.json', 'data/synthrooms-study', 800)
    with pytest.raises(ValueError, match=r'"scarcity.iters" is 800, these runs have 3000'):
        scarcity.recorded_count(record, 'p.json', 'data/synthrooms-study', 3000)
    with pytest.raises(ValueError,
                       match=r'"scarcity.data" is .data/synthrooms-study., these runs have'):
        scarcity.recorded_count(record, 'p.json', 'data/other', 800)
    none = dict(entry, labelled_rooms=None)
    with pytest.raises(ValueError, match=r'no candidate of \[3, 6\] was data-bound'):
        scarcity.recorded_count({'scarcity': none}, 'p.json', 'data/synthrooms-study', 800)
    # an explicit count needs no record
    assert scarcity.labelled_rooms(5, '/nonexistent.json', 'data/synthrooms-study', 800) == 5


@pytest.fixture
def driver(tmp_path, monkeypatch):
    """paper_tables.main with training, the teacher and the rooms faked; its table of record
    in tmp_path/benchmarks, holding a run of another study."""
    monkeypatch.chdir(tmp_path)  # main() moves to the repository: come back after
    calls = []
    record = tmp_path / 'benchmarks' / 'paper_tables.json'
    record.parent.mkdir()
    record.write_text(json.dumps({'sparse-unet': dict(mIoU=[40.0], curve=[[1.0, 2, 3.0]])}))
    monkeypatch.setattr(paper_outputs, 'record_path',
                        lambda name='paper_tables': str(tmp_path / 'benchmarks' / f'{name}.json'))
    monkeypatch.setattr(paper_tables, 'ensure_rooms', lambda *a, **k: ['r'])
    monkeypatch.setattr(paper_tables.experiments, 'train_and_test', _fake_training(calls))
    monkeypatch.setattr(paper_tables.experiments, 'run', lambda *a, **k: 0.0)
    monkeypatch.setattr(paper_tables, 'prepare_teacher',
                        lambda args: ('t.pth', dict(panorama_mIoU=[44.0])))
    monkeypatch.setattr(distillation_rows, 'student_panorama_miou', lambda *a: 30.0)
    monkeypatch.setattr(distillation_rows, 'rendered_panorama_miou', lambda *a: dict(mIoU=33.0))
    monkeypatch.setattr(paper_tables, 'view_coverage', lambda args, views: (80.0, 95.0))
    monkeypatch.setattr(paper_tables, 'add_complexity', lambda *a: None)
    monkeypatch.setattr(paper_tables, 'load_room', lambda *a, **k: None)
    monkeypatch.setattr(paper_tables, 'room_to_input', lambda room: None)
    monkeypatch.setattr(paper_outputs, 'loss_curves',
                        lambda args, names, path: open(path, 'w').close())
    data = _rooms(tmp_path)

    def main(*argv):
        return paper_tables.main(['--data', data, '--out', str(tmp_path / 'out'),
                                  '--iters', '800', *argv])
    return main, calls, record, data


def _scarce_options(calls):
    return {name: options for name, _, options, _ in calls
            if name in ('3dseg-t-scarce', '3dseg-t+room-scarce', '3dseg-t+distill-scarce')}


def test_distill_reads_the_recorded_choice_and_an_explicit_count_wins(driver):
    main, calls, record, data = driver
    distill = ['--distill', '--only', '3dseg-t', '--seeds', '0']
    with pytest.raises(SystemExit, match=r'^error: .*no "scarcity" entry.*--choose-scarcity'):
        main(*distill)
    assert not calls  # refused before anything ran
    assert main('--choose-scarcity', '--record') == 0
    assert json.load(open(record))['scarcity']['labelled_rooms'] == 6
    assert 'sparse-unet' in json.load(open(record))
    assert json.load(open(osp.join(osp.dirname(record), '..', 'out', 'scarcity.json'))) == \
        json.load(open(record))['scarcity']
    calls.clear()
    assert main(*distill) == 0
    scarce = _scarce_options(calls)
    assert 'train_dataloader.dataset.indices=6' in scarce['3dseg-t-scarce']
    for name in ('3dseg-t+room-scarce', '3dseg-t+distill-scarce'):
        assert 'train_dataloader.dataset.labelled_rooms=6' in scarce[name]
    calls.clear()
    assert main(*distill, '--labelled-rooms', '3') == 0
    assert 'train_dataloader.dataset.indices=3' in _scarce_options(calls)['3dseg-t-scarce']
    # another number of iterations than the choice was made at: refused
    with pytest.raises(SystemExit, match=r'"scarcity.iters" is 800, these runs have 3000'):
        paper_tables.main(['--data', data, '--iters', '3000', '--distill'])


def test_distill_record_joins_the_table_of_record_keeping_other_runs(driver):
    main, calls, record, _ = driver
    assert main('--distill', '--only', '3dseg-t', '--seeds', '0', '1', '--labelled-rooms', '3',
                '--record', '--repeats', '0') == 0
    runs = json.load(open(record))
    assert runs['sparse-unet'] == dict(mIoU=[40.0], curve=[[1.0, 2, 3.0]])
    assert runs['teacher'] == dict(panorama_mIoU=[44.0])
    for name in distillation_rows.DISTILL_CONFIGS:
        assert runs[name]['mIoU'] == ([20.0, 20.0] if name == '3dseg-t-scarce' else
                                      [ALL_ROOMS, ALL_ROOMS]), name
        assert runs[name]['panorama_mIoU'] == [33.0, 33.0]
        assert runs[name].get('labelled_rooms') == (3 if name.endswith('-scarce') else None)
    assert runs['3dseg-t']['panorama_mIoU'] == [30.0, 30.0]
    # the recorded loss plot of every model is not replaced by the student's alone
    assert not osp.isfile(re.sub(r'\.json$', '_loss.png', str(record)))
    assert main('--seeds', '0', '--record', '--repeats', '0') == 0  # every model: replaced
    assert osp.isfile(re.sub(r'\.json$', '_loss.png', str(record)))
    # and the distillation runs stay beside the models
    assert json.load(open(record))['3dseg-t+room']['mIoU'] == [ALL_ROOMS, ALL_ROOMS]


def test_choice_when_no_candidate_is_data_bound_is_recorded_and_refused(driver, monkeypatch):
    main, calls, record, _ = driver
    monkeypatch.setattr(paper_tables.experiments, 'train_and_test',
                        _fake_training(calls, {3: 30.0, 6: 31.0, 12: 33.3}))
    assert main('--choose-scarcity', '--record') == 0
    assert json.load(open(record))['scarcity']['labelled_rooms'] is None
    with pytest.raises(SystemExit, match=r'no candidate of \[3, 6, 12, 48\] was data-bound'):
        main('--distill')
    assert scarcity.table(json.load(open(record))['scarcity'])[-1].endswith(
        'no candidate is data-bound.')


@pytest.mark.slow
def test_choice_on_tiny_rooms_end_to_end(tiny_rooms, tmp_path, monkeypatch):
    """The choice stage on four tiny rooms (2 training, 1 validation), 2-iteration runs: the
    one-room and all-rooms students are trained, validated and kept; run again, nothing
    trains."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(paper_outputs, 'record_path',
                        lambda name='paper_tables': str(tmp_path / f'{name}.json'))
    tiny = ['train_cfg.max_iters=2'] + [
        f'{s}_dataloader.{k}' for s in ('train', 'val', 'test')
        for k in ('num_workers=0', 'persistent_workers=False')]
    monkeypatch.setattr(paper_tables, 'run_config', lambda name, iters: (
        block_rows.SCHEDULED[800]['3dseg-t'], tiny))
    out = tmp_path / 'out'
    argv = ['--data', tiny_rooms, '--out', str(out), '--iters', '2', '--choose-scarcity',
            '--candidates', '1', '2', '--record']
    assert paper_tables.main(argv) == 0
    entry = json.load(open(tmp_path / 'paper_tables.json'))['scarcity']
    assert entry['candidates'] == [1, 2] and entry['training_rooms'] == 2
    scores = entry['validation_mIoU']
    assert scores['2'] == entry['all_rooms_mIoU'] and 0 <= scores['1'] <= 100
    assert entry['labelled_rooms'] == scarcity.data_bound_count(
        {1: scores['1'], 2: scores['2']}, entry['all_rooms_mIoU'])
    for tag in ('all', 'rooms1'):
        assert json.load(open(out / 'scarcity' / tag / 'record_validation.json'))['metrics']
        assert not (out / 'scarcity' / tag / 'test').exists()  # the test rooms never scored
    stamp = osp.getmtime(out / 'scarcity' / 'all' / 'record_validation.json')
    assert paper_tables.main(argv) == 0
    assert osp.getmtime(out / 'scarcity' / 'all' / 'record_validation.json') == stamp
