"""SaveOnStopHook: a SIGTERM mid-run leaves a checkpoint of the last finished iteration, the
process ends with 128 + the signal, and a resumed run ends with the weights of a run never
stopped."""
import os
import os.path as osp
import signal
import time

import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner

from segmenter3d.engine.hooks import SaveOnStopHook


class _Toy(BaseModel):

    def __init__(self):
        super().__init__()
        self.w = nn.Linear(3, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.w(torch.stack(inputs) if isinstance(inputs, list) else inputs)
        return dict(loss=(out - 1).pow(2).mean()) if mode == 'loss' else out


class _SignalAt(Hook):
    """Sends ``signum`` to this process during iteration ``at`` (1-based), as a scheduler
    would from outside."""
    priority = 'HIGHEST'

    def __init__(self, at: int, signum: int = signal.SIGTERM):
        self.at, self.signum = at, signum

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), self.signum)


class _Seen(BaseMetric):
    def process(self, data_batch, data_samples):
        self.results.append(1)

    def compute_metrics(self, results):
        return dict(n=len(results))


def _runner(work_dir, max_iters, hooks=(), interval=100, val_interval=None):
    import segmenter3d.engine  # noqa: F401  (CrashSafeCheckpointHook, atomic_local)
    torch.manual_seed(0)  # the same initial weights in every run
    data = [dict(inputs=torch.randn(3)) for _ in range(16)]
    val = {} if val_interval is None else dict(
        val_dataloader=dict(dataset=data[:2], batch_size=1, collate_fn=dict(
            type='default_collate'), sampler=dict(type='DefaultSampler', shuffle=False)),
        val_cfg=dict(), val_evaluator=[_Seen()])
    return Runner(**val,
        model=_Toy(), work_dir=str(work_dir), default_scope='mmseg',
        train_dataloader=dict(dataset=data, batch_size=2,
                              sampler=dict(type='InfiniteSampler', shuffle=True, seed=1),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.05)),
        param_scheduler=[dict(type='LinearLR', start_factor=0.2, by_epoch=False, begin=0,
                              end=max_iters)],
        train_cfg=dict(by_epoch=False, max_iters=max_iters,
                       **({} if val_interval is None else dict(val_interval=val_interval))),
        randomness=dict(seed=0),
        default_hooks=dict(checkpoint=dict(type='CrashSafeCheckpointHook', by_epoch=False,
                                           interval=interval, max_keep_ckpts=1)),
        custom_hooks=[dict(type='RNGStateHook'), dict(type='SaveOnStopHook'), *hooks])


def test_a_stop_signal_saves_the_finished_iteration_and_resume_is_exact(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    whole = _runner(tmp_path / 'whole', 9)
    whole.train()
    stopped = _runner(tmp_path / 'split', 9, hooks=[_SignalAt(4)])
    with pytest.raises(SystemExit) as exit_info:
        stopped.train()
    assert exit_info.value.code == 128 + signal.SIGTERM
    # the iteration running when the signal came finished and was saved; none after it ran
    last = open(tmp_path / 'split' / 'last_checkpoint').read().strip()
    assert osp.basename(last) == 'iter_4.pth'
    first = torch.load(last, weights_only=False)
    assert first['meta']['iter'] == 4
    # the handler is put back: a later signal is not swallowed by a finished run
    assert signal.getsignal(signal.SIGTERM) is before
    resumed = _runner(tmp_path / 'split', 9)
    resumed._resume = True
    resumed.train()
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the stopped run moved the weights (the test is not comparing two untrained models)
    assert not torch.equal(first['state_dict']['w.weight'], b['w.weight'])


def test_a_stop_at_a_periodic_checkpoint_is_saved_once(tmp_path):
    """The periodic save of iteration 3 is the stop's checkpoint: no second save of it."""
    saves = []
    runner = _runner(tmp_path, 9, hooks=[_SignalAt(3)], interval=3)
    save = runner.save_checkpoint
    runner.save_checkpoint = lambda out, name, *a, **k: (saves.append(name),
                                                         save(out, name, *a, **k))
    with pytest.raises(SystemExit):
        runner.train()
    assert saves == ['iter_3.pth']


def test_a_run_that_is_not_stopped_ends_normally(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    runner = _runner(tmp_path, 3)
    runner.train()
    assert osp.basename(open(tmp_path / 'last_checkpoint').read().strip()) == 'iter_3.pth'
    assert signal.getsignal(signal.SIGTERM) is before


def test_an_unknown_signal_name_is_refused():
    with pytest.raises(ValueError, match='SIGNOPE'):
        SaveOnStopHook(signals=('SIGNOPE', ))


# A training process of its own (a stop signal must not reach pytest): the toy model, data
# read by persistent dataloader workers as the shipped configs do (the validation's forked
# after the training started, at iteration 2), one line per iteration started, and a
# forward slow enough for the signal to land inside the iteration.
_STOPPED_RUN = '''
import sys, time
import torch, torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
import segmenter3d.engine  # noqa: F401
torch.set_num_threads(1)


class Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.w = nn.Linear(3, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode != 'loss':
            return [None] * len(inputs)
        time.sleep(0.5)
        return dict(loss=(self.w(inputs) - 1).pow(2).mean())


class Count(BaseMetric):
    def process(self, data_batch, data_samples):
        self.results.append(1)

    def compute_metrics(self, results):
        return dict(n=len(results))


class Say(Hook):
    def before_train_iter(self, runner, batch_idx, data_batch=None):
        print('ITER', runner.iter + 1, flush=True)


workers = int(sys.argv[2])
Runner(model=Toy(), work_dir=sys.argv[1], default_scope='mmseg',
       train_dataloader=dict(dataset=[dict(inputs=torch.randn(3)) for _ in range(16)],
                             batch_size=2, num_workers=workers,
                             persistent_workers=workers > 0,
                             sampler=dict(type='InfiniteSampler', shuffle=True, seed=1),
                             collate_fn=dict(type='default_collate')),
       optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
       val_dataloader=dict(dataset=[dict(inputs=torch.randn(3)) for _ in range(2)],
                           batch_size=1, num_workers=workers, persistent_workers=workers > 0,
                           sampler=dict(type='DefaultSampler', shuffle=False),
                           collate_fn=dict(type='default_collate')),
       val_cfg=dict(), val_evaluator=[Count()],
       train_cfg=dict(by_epoch=False, max_iters=20, val_interval=2), randomness=dict(seed=0),
       env_cfg=dict(mp_cfg=dict(mp_start_method='fork')),
       default_hooks=dict(checkpoint=dict(type='CrashSafeCheckpointHook', by_epoch=False,
                                          interval=100, max_keep_ckpts=1)),
       custom_hooks=[dict(type='SaveOnStopHook'), Say()]).train()
'''


def _stop_at_iteration_3(tmp_path, workers: int, send) -> str:
    """Run :data:`_STOPPED_RUN` in a session of its own, ``send(pid)`` the stop during its
    third iteration: it must exit with 128 + SIGTERM and a checkpoint of iteration 3.
    Returns its output."""
    import subprocess
    import sys

    script = tmp_path / 'run.py'
    script.write_text(_STOPPED_RUN)
    import segmenter3d
    projects = osp.dirname(osp.dirname(osp.abspath(segmenter3d.__file__)))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / 'work'), str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True,
                            env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=projects))
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if line.strip() == 'ITER 3':
                send(proc.pid)
                break
        seen += proc.stdout.readlines()
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM, ''.join(seen)[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    last = open(tmp_path / 'work' / 'last_checkpoint').read().strip()
    assert osp.basename(last) == 'iter_3.pth', ''.join(seen)[-3000:]
    assert torch.load(last, weights_only=False)['meta']['iter'] == 3
    return ''.join(seen)


def test_a_stop_sent_to_the_process_group_spares_the_dataloader_workers(tmp_path):
    """``kill -TERM -<group>`` (a job scheduler, a session's end, systemd) reaches the
    dataloader workers too; a worker killed by it made the run fail mid-iteration or
    mid-save ("DataLoader worker ... is killed by signal") instead of saving."""
    _stop_at_iteration_3(tmp_path, 1, lambda pid: os.killpg(pid, signal.SIGTERM))


def test_the_same_stop_delivered_twice_at_once_is_one_stop(tmp_path):
    """A stop sent to a process group reaches a training run both directly and through the
    parent that started it (``experiments.run`` forwards a stop to its tool): the copy that
    follows at once is the same stop, not a second one that kills the run unsaved."""
    def twice(pid):
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.1)  # the parent's own handler ran and it forwards the stop
        os.kill(pid, signal.SIGTERM)

    _stop_at_iteration_3(tmp_path, 0, twice)


def test_an_epoch_based_run_stops_at_the_end_of_the_epoch_with_one_save(tmp_path):
    """An epoch-based loop looks at ``stop_training`` only between epochs, and its
    checkpoints are of whole epochs (a mid-epoch one resumes at the next epoch): the epoch
    running is finished and saved once, as ``epoch_1.pth``, not once per iteration left."""
    import segmenter3d.engine  # noqa: F401
    torch.manual_seed(0)
    runner = Runner(
        model=_Toy(), work_dir=str(tmp_path), default_scope='mmseg',
        train_dataloader=dict(dataset=[dict(inputs=torch.randn(3)) for _ in range(16)],
                              batch_size=2, sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=3), randomness=dict(seed=0),
        default_hooks=dict(checkpoint=dict(type='CrashSafeCheckpointHook', by_epoch=True,
                                           interval=100, max_keep_ckpts=1)),
        custom_hooks=[dict(type='SaveOnStopHook'), _SignalAt(3)])
    saves = []
    save = runner.save_checkpoint
    runner.save_checkpoint = lambda out, name, *a, **k: (saves.append(name),
                                                         save(out, name, *a, **k))
    with pytest.raises(SystemExit) as exit_info:
        runner.train()
    assert exit_info.value.code == 128 + signal.SIGTERM
    assert saves == ['epoch_1.pth'] and runner.iter == 8 and runner.epoch == 1
    meta = torch.load(tmp_path / 'epoch_1.pth', weights_only=False)['meta']
    assert (meta['epoch'], meta['iter']) == (1, 8)


def test_a_stop_at_a_validation_point_leaves_the_validation_to_the_resumed_run(tmp_path):
    """The loop validates after the iteration that stopped: the stop would wait for a whole
    validation (a scheduler's grace period may not), and the resumed run validates that
    point again anyway (``ValidateOnResumeHook``)."""
    validated = []

    class Seen(Hook):
        def after_val_epoch(self, runner, metrics=None):
            validated.append(runner.iter)

    stopped = _runner(tmp_path, 6, hooks=[_SignalAt(3), Seen()], val_interval=3)
    with pytest.raises(SystemExit):
        stopped.train()
    assert validated == []
    resumed = _runner(tmp_path, 6, hooks=[dict(type='ValidateOnResumeHook'), Seen()],
                      val_interval=3)
    resumed._resume = True
    resumed.train()
    assert validated == [3, 6]


@pytest.mark.parametrize('repeat_seconds,passed_on', [(60.0, []), (0.0, [signal.SIGTERM])])
def test_a_second_stop_goes_to_the_earlier_handler_unless_it_repeats_the_first(
        tmp_path, monkeypatch, repeat_seconds, passed_on):
    """A second signal takes the action that was there before the run (here a recorder; by
    default the process ends at once), except a copy of the first within the window."""
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))

    class Twice(_SignalAt):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if runner.iter + 1 == self.at:
                os.kill(os.getpid(), self.signum)
                time.sleep(0.01)
                os.kill(os.getpid(), self.signum)

    monkeypatch.setattr(SaveOnStopHook, 'repeat_seconds', repeat_seconds)
    try:
        with pytest.raises(SystemExit):
            _runner(tmp_path, 9, hooks=[Twice(3)]).train()
        assert received == passed_on
        assert osp.basename(open(tmp_path / 'last_checkpoint').read().strip()) == 'iter_3.pth'
    finally:
        signal.signal(signal.SIGTERM, previous)
