import json
import os
import os.path as osp

import pytest

from studies import experiments


def _fake_tools(monkeypatch, calls):
    """``run`` that records the command and writes what train.py / test.py would."""

    def run(cmd, log, quiet=False):
        calls.append(cmd)
        work_dir = cmd[cmd.index('--work-dir') + 1]
        if cmd[1].endswith('train.py'):
            with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(work_dir, 'iter_1.pth'))
        else:  # test.py: the metrics JSON of its timestamped folder
            out = osp.join(work_dir, '20260101_000000')
            os.makedirs(out, exist_ok=True)
            with open(osp.join(out, '20260101_000000.json'), 'w') as f:
                json.dump(dict(mIoU=12.5, aAcc=90.0, time=1.0), f)
        return 2.0

    monkeypatch.setattr(experiments, 'run', run)


def test_record_is_reused_only_for_the_same_config_and_options(tmp_path, monkeypatch):
    calls = []
    _fake_tools(monkeypatch, calls)
    work = str(tmp_path / 'run')
    os.makedirs(work)
    first = experiments.train_and_test(work, 'a.py', ['x=1'], str(tmp_path / 'log'))
    assert first['metrics'] == dict(mIoU=12.5, aAcc=90.0)  # only the keys asked for
    assert first['checkpoint'].endswith('iter_1.pth') and first['train_seconds'] == 2.0
    assert len(calls) == 2  # train + test
    assert experiments.train_and_test(work, 'a.py', ['x=1'], str(tmp_path / 'log')) == first
    assert len(calls) == 2  # reused
    # another teacher checkpoint (an option) or another config: trained and tested again
    experiments.train_and_test(work, 'a.py', ['x=2'], str(tmp_path / 'log'))
    assert len(calls) == 4 and 'x=2' in calls[2]
    experiments.train_and_test(work, 'b.py', ['x=2'], str(tmp_path / 'log'))
    assert len(calls) == 6 and 'b.py' in calls[4]
    assert json.load(open(osp.join(work, 'record_test.json')))['config'] == 'b.py'


def test_a_finished_run_is_tested_on_another_split_without_training(tmp_path, monkeypatch):
    calls = []
    _fake_tools(monkeypatch, calls)
    work = str(tmp_path / 'run')
    os.makedirs(work)
    trained = experiments.train_and_test(work, 'a.py', ['x=1'], str(tmp_path / 'log'),
                                         split='validation')
    test = experiments.test_finished(work, str(tmp_path / 'log'), 'test')
    assert len(calls) == 3 and calls[2][1].endswith('test.py')  # no second training
    assert calls[2][2:4] == ['a.py', trained['checkpoint']]
    assert 'test_dataloader.dataset.ann_file=splits/test.txt' in calls[2]
    assert 'x=1' in calls[2] and test['options'] == ['x=1']
    assert test['metrics'] == dict(mIoU=12.5) and test['train_seconds'] == 2.0
    assert experiments.test_finished(work, str(tmp_path / 'log'), 'test') == test
    assert len(calls) == 3  # reused
    # trained again with other options: its old test record is stale, tested again
    experiments.train_and_test(work, 'a.py', ['x=2'], str(tmp_path / 'log'), split='validation')
    assert experiments.test_finished(work, str(tmp_path / 'log'), 'test')['options'] == ['x=2']
    assert len(calls) == 6
    with pytest.raises(FileNotFoundError, match='no finished run to test on the test rooms'):
        experiments.test_finished(str(tmp_path), str(tmp_path / 'log'), 'test')


def test_write_report_keeps_the_results_and_the_table(tmp_path):
    results = {'control': [33.02], 'tau20': [31.54]}
    lines = ['| row | mIoU |', '|---|---|', '| control | 33.02 |']
    text = experiments.write_report(str(tmp_path), 'study', results, lines)
    assert text == '\n'.join(lines) + '\n'
    assert (tmp_path / 'study.md').read_text() == text
    assert json.loads((tmp_path / 'study.json').read_text()) == results


def test_data_paths_that_cfg_options_would_change_are_refused(tmp_path, monkeypatch, capsys):
    """mmengine's --cfg-options deletes spaces and splits at commas: ``--data '/tmp/my data'``
    trained on ``/tmp/mydata`` (another folder, or a late error far from the cause)."""
    import sys

    from conftest import ROOT
    assert experiments.data_options('/tmp/rooms')[0].endswith('data_root=/tmp/rooms')
    for bad, shown in (('/tmp/my data', "' '"), ('/tmp/a,b', "','"), ("/tmp/it's", '"\'"')):
        with pytest.raises(ValueError, match=f'--data {bad}: .* cannot hold {shown}'):
            experiments.data_options(bad)
    with pytest.raises(ValueError, match='--pano2d /x y'):
        experiments.pano2d_options('/rooms', '/x y')
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import demo

    def never(*args, **kwargs):
        raise AssertionError('a step started')
    monkeypatch.setattr(demo, 'run', never)
    with pytest.raises(SystemExit, match=r'^error: --data .*my data: .*cannot hold'):
        demo.main(['--data', str(tmp_path / 'my data'), '--work-dir', str(tmp_path / 'w')])
