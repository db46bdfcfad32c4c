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


def test_a_run_reused_under_its_rows_file_is_recorded_under_that_file(tmp_path, monkeypatch):
    """A run made as a base config plus option strings, asked for again as the row's config
    file that merges to the same run: reused, and its record now names the file (with what
    it was made as), so the table of record names the config a reader opens."""
    room = 'configs/3dseg/3dseg-t_1xb1-120_synthrooms-room.py'
    tiles = 'configs/3dseg/3dseg-t_1xb1-120_synthrooms-room-tiles32.py'
    data = ['train_dataloader.dataset.data_root=rooms', 'randomness.seed=0']
    old = data + ['model.train_cfg.mode=tiles', 'model.train_cfg.crop_size=32']
    made = dict(config=room, options=old, metrics=dict(mIoU=33.0), checkpoint='x.pth',
                train_seconds=1.0)
    (tmp_path / 'record_test.json').write_text(json.dumps(made))
    monkeypatch.setattr(experiments, 'run', lambda *a, **k: pytest.fail('trained again'))
    record = experiments.train_and_test(str(tmp_path), tiles, data, str(tmp_path / 'log'))
    assert (record['config'], record['options'], record['metrics']) == (tiles, data,
                                                                         dict(mIoU=33.0))
    assert record['made_as'] == dict(config=room, options=old)
    assert json.load(open(tmp_path / 'record_test.json')) == record
    # asked again: the same record, its made_as kept
    assert experiments.train_and_test(str(tmp_path), tiles, data, str(tmp_path / 'l')) == record


def _popen_spy(monkeypatch):
    made = []
    popen = experiments.subprocess.Popen

    def spy(*args, **kwargs):
        made.append(popen(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(experiments.subprocess, 'Popen', spy)
    return made


def test_a_stopped_run_stops_the_tool_it_started(tmp_path, monkeypatch):
    import signal
    import sys

    made = _popen_spy(monkeypatch)

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(2)
    try:
        with pytest.raises(KeyboardInterrupt):
            experiments.run([sys.executable, '-c', 'import time; print("up", flush=True); '
                             'time.sleep(60)'], str(tmp_path / 'log'), quiet=True)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert made[0].poll() is not None  # the tool ended with us, not 60 s later
    assert open(tmp_path / 'log').read() == 'up\n'


def test_a_tool_that_closes_its_output_early_still_finishes(tmp_path, monkeypatch):
    import sys
    made = _popen_spy(monkeypatch)
    code = ('import os, time; print("done", flush=True); os.close(1); os.close(2); '
            'time.sleep(0.5); open(os.environ["MARK"], "w").write("ran to its end")')
    monkeypatch.setenv('MARK', str(tmp_path / 'mark'))
    experiments.run([sys.executable, '-c', code], str(tmp_path / 'log'), quiet=True)
    assert made[0].returncode == 0 and (tmp_path / 'mark').read_text() == 'ran to its end'
    with pytest.raises(SystemExit, match=r'command failed \(3\)'):
        experiments.run([sys.executable, '-c', 'raise SystemExit(3)'], str(tmp_path / 'log'),
                        quiet=True)


def test_a_run_stopped_mid_training_resumes_and_counts_both_segments(tmp_path, monkeypatch):
    """A study stopped at a session's end: the next call continues the same run from its
    last checkpoint (``--resume``), and the record's seconds are both segments'."""
    calls = []
    _fake_tools(monkeypatch, calls)
    fake = experiments.run

    def stopped_in_training(cmd, log, quiet=False):
        if cmd[1].endswith('train.py'):
            fake(cmd, log, quiet)  # it saved a checkpoint (SaveOnStopHook), then stopped
            raise KeyboardInterrupt
        return fake(cmd, log, quiet)

    work = str(tmp_path / 'run')
    monkeypatch.setattr(experiments, 'run', stopped_in_training)
    with pytest.raises(KeyboardInterrupt):
        experiments.train_and_test(work, 'a.py', ['x=1'], str(tmp_path / 'log'))
    state = json.load(open(osp.join(work, 'run_state.json')))
    assert state['config'] == 'a.py' and not state['trained'] and len(state['segments']) == 1
    monkeypatch.setattr(experiments, 'run', fake)
    record = experiments.train_and_test(work, 'a.py', ['x=1'], str(tmp_path / 'log'))
    assert '--resume' in calls[1] and '--overwrite' not in calls[1]
    assert record['train_seconds'] == round(state['segments'][0] + json.load(open(osp.join(
        work, 'run_state.json')))['segments'][1], 1)
    # another config with the same options in that work dir starts over
    os.remove(osp.join(work, 'record_test.json'))
    state = json.load(open(osp.join(work, 'run_state.json')))
    state['trained'] = False
    with open(osp.join(work, 'run_state.json'), 'w') as f:
        json.dump(state, f)
    experiments.train_and_test(work, 'b.py', ['x=1'], str(tmp_path / 'log'))
    assert '--overwrite' in calls[-2] and 'b.py' in calls[-2]


def test_a_driver_stopped_with_sigterm_stops_its_tool_and_exits_143(tmp_path):
    """``kill <driver>`` (a session's or a scheduler's stop): the tool the driver runs gets
    SIGTERM too (a training run then saves the iteration it is in), and the driver exits
    128 + 15 instead of leaving the tool running on its own."""
    import signal
    import subprocess
    import sys
    import time
    pid_file = tmp_path / 'tool.pid'
    driver = (
        'import sys; sys.path.insert(0, sys.argv[1]); from studies import experiments; '
        'experiments.exit_on_sigterm(); experiments.run([sys.executable, "-c", '
        '"import os, time; open(os.environ[\'PID_FILE\'], \'w\').write(str(os.getpid())); '
        'time.sleep(60)"], sys.argv[2], quiet=True)')
    proc = subprocess.Popen([sys.executable, '-c', driver, experiments.ROOT,
                             str(tmp_path / 'log')], env=dict(os.environ,
                                                              PID_FILE=str(pid_file)))
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    tool = int(pid_file.read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(tool, 0)  # the tool is gone, not sleeping on without its driver


def test_a_run_killed_before_its_first_save_never_resumes_the_older_run(tmp_path,
                                                                        monkeypatch):
    """A work dir trained with other options is trained over (``--overwrite``); when that new
    run is killed before it saved anything, the next call must start it again, not
    ``--resume`` the older run's checkpoint (with ``load_from`` dropped: its weights, its
    schedule) as if it were the new one's."""
    calls = []
    _fake_tools(monkeypatch, calls)
    fake = experiments.run
    work = str(tmp_path / 'run')
    experiments.train_and_test(work, 'a.py', ['x=1'], str(tmp_path / 'log'))

    def killed_at_start(cmd, log, quiet=False):
        calls.append(cmd)
        raise KeyboardInterrupt  # stopped while building the Runner: no checkpoint

    monkeypatch.setattr(experiments, 'run', killed_at_start)
    with pytest.raises(KeyboardInterrupt):
        experiments.train_and_test(work, 'a.py', ['x=2'], str(tmp_path / 'log'))
    assert '--overwrite' in calls[-1]
    monkeypatch.setattr(experiments, 'run', fake)
    experiments.train_and_test(work, 'a.py', ['x=2'], str(tmp_path / 'log'))
    train = [c for c in calls if c[1].endswith('train.py')][-1]
    assert '--overwrite' in train and '--resume' not in train
