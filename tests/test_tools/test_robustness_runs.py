"""Runs that a crash, a second run or a careless option must not damage (docs/robustness.md).

Checkpoint rotation, the work-dir lock, orphan temporary files, options checked at every
depth, schedule numbers, registry typos, outputs kept away from inputs, 16-bit panoramas.
"""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner

from conftest import CONFIGS, data_root_options, load_tool
from segmenter3d.engine.option_checks import check_cfg_options
from segmenter3d.engine.work_dir import lock_work_dir
from segmenter3d.fileio import remove_orphans

T_CFG = f'{CONFIGS}/3dseg/3dseg-t_synthrooms.py'


class _Toy(BaseModel):

    def __init__(self):
        super().__init__()
        self.w = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.w(torch.stack(inputs) if isinstance(inputs, list) else inputs)
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


def _toy_runner(work_dir, hook_type, max_iters=3):
    return Runner(
        model=_Toy(), work_dir=str(work_dir), default_scope='mmseg',
        train_dataloader=dict(dataset=[dict(inputs=torch.randn(2)) for _ in range(8)],
                              sampler=dict(type='DefaultSampler', shuffle=False), batch_size=2,
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type=hook_type, by_epoch=False, interval=1,
                                           max_keep_ckpts=1,
                                           backend_args=dict(backend='atomic_local'))))


@pytest.mark.parametrize('hook', ['CrashSafeCheckpointHook', 'CheckpointHook'])
def test_a_kill_during_a_save_leaves_a_resumable_run(tmp_path, hook):
    """With max_keep_ckpts=1, the process dies while iter_2 is being written."""
    import segmenter3d.engine  # noqa: F401  (atomic_local, CrashSafeCheckpointHook)
    runner = _toy_runner(tmp_path, hook)
    save = runner.save_checkpoint

    def dies_on_the_second_save(out_dir, filename, *args, **kwargs):
        if filename == 'iter_2.pth':
            raise KeyboardInterrupt  # kill -9 before the new file is complete
        return save(out_dir, filename, *args, **kwargs)

    runner.save_checkpoint = dies_on_the_second_save
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    last = open(osp.join(tmp_path, 'last_checkpoint')).read().strip()
    if hook == 'CheckpointHook':  # mmengine deletes iter_1 first: nothing left to resume
        assert not osp.isfile(last)
        return
    assert osp.basename(last) == 'iter_1.pth' and osp.isfile(last)
    resumed = _toy_runner(tmp_path, hook, max_iters=3)
    resumed._resume = True
    resumed.train()
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.pth')) == ['iter_3.pth']


def test_a_second_run_on_a_busy_work_dir_is_refused(tmp_path):
    work = str(tmp_path / 'work')
    code = ('import sys, time; from segmenter3d.engine.work_dir import lock_work_dir; '
            f'lock_work_dir({work!r}); print("locked", flush=True); time.sleep(60)')
    holder = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        with pytest.raises(ValueError, match=r'work: another run is using this work dir'):
            lock_work_dir(work)
    finally:
        holder.kill()
        holder.wait()
    lock_work_dir(work)  # the kernel dropped the dead run's lock: no stale lock


def test_orphan_temporary_files_of_dead_processes_are_removed(tmp_path):
    sleeper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        dead = tmp_path / 'iter_4.segmenter3d-tmp999999999.pth'
        alive = tmp_path / f'iter_6.segmenter3d-tmp{sleeper.pid}.pth'
        mine = tmp_path / 'room.segmenter3d-tmp999999998.npz'
        keep = tmp_path / 'iter_2.pth'
        for f in (dead, alive, mine, keep):
            f.write_bytes(b'x')
        removed = remove_orphans(str(tmp_path))
        assert sorted(osp.basename(p) for p in removed) == sorted([dead.name, mine.name])
        assert alive.exists() and keep.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_orphan_cleanup_keeps_user_files_of_any_temporary_looking_name(tmp_path):
    """Only names our writer alone produces are removed: a user's files in the work dir that
    merely look temporary stay (they were deleted when any ``*.tmp<digits>`` matched)."""
    from segmenter3d.fileio import temporary_name
    user = ['scan.tmp4194999.npz', 'backup.tmp99999999', 'notes.segmenter3d-tmp.txt',
            'x.segmenter3d-tmp12ab.pth']
    for name in user:
        (tmp_path / name).write_bytes(b'user data')
    (tmp_path / 'link.segmenter3d-tmp999999997.pth').symlink_to(tmp_path / user[0])
    assert temporary_name('w/iter_8.pth') == f'w/iter_8.segmenter3d-tmp{os.getpid()}.pth'
    own = str(tmp_path / 'iter_8.segmenter3d-tmp999999996.pth')  # a dead writer's
    open(own, 'wb').close()
    lock_work_dir(str(tmp_path))  # what train.py does when it takes the work dir
    assert not osp.exists(own)
    assert all((tmp_path / n).read_bytes() == b'user data' for n in user)
    assert (tmp_path / 'link.segmenter3d-tmp999999997.pth').is_symlink()


@pytest.mark.parametrize('key,match', [
    ('default_hooks.checkpoint.intervall', r"checkpoint\.intervall'.*did you mean "
                                           r"'default_hooks\.checkpoint\.interval'"),
    ('model.test_cfg.strde', r"test_cfg\.strde'.*did you mean 'model\.test_cfg\.stride'"),
    ('model.backbone.archh', r"SwinTransformer3D takes no such argument.*'model\.backbone\.arch'"),
    ('train_dataloader.dataset.pipeline.1.crop_sise', r"RandomVolumeCrop takes no such"),
])
def test_misspelt_leaf_options_are_refused_with_a_suggestion(key, match):
    with pytest.raises(ValueError, match=match):
        check_cfg_options(Config.fromfile(T_CFG), {key: 1})


def test_new_leaves_the_target_takes_are_accepted():
    check_cfg_options(Config.fromfile(T_CFG), {
        'model.backbone.norm_cfg': dict(type='LN'),  # an argument of SwinTransformer3D
        'default_hooks.checkpoint.save_last': True,  # of CheckpointHook
        'default_hooks.checkpoint.filename': 'x.pth',  # forwarded to Runner.save_checkpoint
        'model.test_cfg.progress': True,
    })


def _refused_before_training(tmp_path, rooms, option, match):
    """``train.py --cfg-options option`` stops with a ``ValueError`` matching ``match`` while
    the runner is built, before any training: no checkpoint is ever recorded. Returns the
    work dir it was given."""
    train = load_tool('train')
    work = tmp_path / 'w'
    args = train.parse_args([T_CFG, '--work-dir', str(work), '--cfg-options', option,
                             *data_root_options(rooms)])
    with pytest.raises(ValueError, match=match):
        train.build_runner(args)
    assert not osp.exists(work / 'last_checkpoint')
    return work


@pytest.mark.parametrize('option,match', [
    ('train_cfg.max_iters=-5', r'train_cfg\.max_iters must be an integer >= 1, got -5'),
    ('train_cfg.max_iters=abc', r"train_cfg\.max_iters must be an integer >= 1, got 'abc'"),
    ('train_cfg.val_interval=0', r'train_cfg\.val_interval must be an integer >= 1, got 0'),
    ('model.backbone.type=SwinTransformer3d', r'SwinTransformer3d is not in the .*registry'),
])
def test_bad_schedule_numbers_and_registry_typos_are_one_line_errors(tmp_path, option, match,
                                                                     tiny_rooms):
    _refused_before_training(tmp_path, tiny_rooms, option, match)


def test_missing_rooms_are_one_line_errors_before_the_runner_starts(tmp_path, tiny_rooms):
    """A split file or a listed room that is missing stops train.py and test.py before the
    Runner makes its work dir or builds the model."""
    import shutil
    rooms = tmp_path / 'rooms'
    shutil.copytree(tiny_rooms, rooms)
    with open(rooms / 'splits' / 'training.txt', 'a') as f:
        f.write('room_gone\n')
    train = load_tool('train')
    args = train.parse_args([T_CFG, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                             *data_root_options(str(rooms))])
    with pytest.raises(FileNotFoundError, match=r'training\.txt: 1 listed room volume\(s\) not '
                                                r"found, e\.g\. \[.*room_gone\.npz'\]"):
        train.build_runner(args)
    assert not osp.exists(tmp_path / 'w')
    os.remove(rooms / 'splits' / 'test.txt')
    test = load_tool('test')
    args = test.parse_args([T_CFG, str(tmp_path / 'any.pth'), '--work-dir', str(tmp_path / 'v'),
                            '--cfg-options', *data_root_options(str(rooms))])
    with pytest.raises(FileNotFoundError, match=r'test\.txt: split file not found'):
        test.build_runner(args)
    assert not osp.exists(tmp_path / 'v')


def test_test_outputs_inside_a_data_root_are_refused(tmp_path):
    test = load_tool('test')
    data = tmp_path / 'rooms'
    (data / 'volumes').mkdir(parents=True)
    room = data / 'volumes' / 'room_00005.npz'
    room.write_bytes(b'an input room')
    for flag in ('--out', '--show-dir'):
        args = test.parse_args([T_CFG, str(tmp_path / 'any.pth'), flag, str(data / 'volumes'),
                                '--cfg-options', f'test_dataloader.dataset.data_root={data}'])
        with pytest.raises(ValueError, match=rf'{flag} .*volumes: inside the data root'):
            test.build_runner(args)
    assert room.read_bytes() == b'an input room'


def test_sixteen_bit_panoramas_are_scaled_by_their_bit_depth(tmp_path):
    import cv2

    from segmenter3d.datasets.transforms import LoadPanorama
    image = np.zeros((8, 16, 3), np.uint16)
    image[..., 0] = 65535
    image[..., 1] = 257 * 100
    cv2.imwrite(str(tmp_path / 'p.png'), image)
    out = LoadPanorama().transform(dict(image_path=str(tmp_path / 'p.png')))['panorama']
    assert out.dtype == np.uint8 and (out[..., 0] == 255).all() and (out[..., 1] == 100).all()


class _RisingScore(BaseMetric):
    """A validation metric that improves at every validation, in any runner: each one saves
    a new best checkpoint."""
    calls = 0

    def process(self, data_batch, data_samples):
        self.results.append(1)

    def compute_metrics(self, results):
        _RisingScore.calls += 1
        return dict(score=float(_RisingScore.calls))


def _best_runner(work_dir, max_iters, hook='CrashSafeCheckpointHook'):
    import segmenter3d.engine  # noqa: F401  (atomic_local, CrashSafeCheckpointHook)
    data = [dict(inputs=torch.randn(2)) for _ in range(4)]
    loader = dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
                  batch_size=2, collate_fn=dict(type='default_collate'))
    return Runner(
        model=_Toy(), work_dir=str(work_dir), default_scope='mmseg', train_dataloader=loader,
        val_dataloader=loader, val_cfg=dict(), val_evaluator=[_RisingScore()],
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=1),
        default_hooks=dict(checkpoint=dict(type=hook, by_epoch=False, interval=1,
                                           max_keep_ckpts=1, save_best='score',
                                           rule='greater',
                                           backend_args=dict(backend='atomic_local'))))


def _tamper(path, **runtime_info):
    ckpt = torch.load(path, weights_only=False)  # our own file, written just above
    ckpt['message_hub']['runtime_info'].update(runtime_info)
    torch.save(ckpt, path)


@pytest.mark.parametrize('hook', ['CrashSafeCheckpointHook', 'CheckpointHook'])
def test_a_resumed_best_ckpt_outside_the_work_dir_is_never_deleted(tmp_path, hook):
    """A checkpoint whose message hub names any folder as the previous best checkpoint, with
    a low best score: the next better validation used to delete that folder."""
    victim = tmp_path / 'victim'
    victim.mkdir()
    (victim / 'thesis.tex').write_text('years of work')
    work = tmp_path / 'work'
    _best_runner(work, 2, hook).train()
    _tamper(str(work / 'iter_2.pth'), best_ckpt=str(victim), best_score=-1e9,
            keep_ckpt_ids=['../x'])
    resumed = _best_runner(work, 3, hook)
    resumed._resume = True
    resumed.train()
    if hook == 'CheckpointHook':  # mmengine's own hook follows the hub: the folder is gone
        assert not victim.exists()
        return
    assert (victim / 'thesis.tex').read_text() == 'years of work'
    # the run went on: its new best saved (the dropped entries only cost it their rotation)
    assert {'best_score_iter_3.pth', 'iter_3.pth'} <= {p.name for p in work.glob('*.pth')}


def test_a_copied_work_dir_resumed_never_deletes_the_originals_files(tmp_path):
    import shutil
    first, copy = tmp_path / 'A', tmp_path / 'B'
    _best_runner(first, 2).train()
    before = sorted(p.name for p in first.iterdir())
    assert 'best_score_iter_2.pth' in before
    shutil.copytree(first, copy)
    resumed = _best_runner(copy, 3)
    resumed._resume = True
    resumed.train()
    assert sorted(p.name for p in first.iterdir()) == before  # A untouched
    # B's hub pointed at A's best: rebased to B's copy, which the new best replaced
    assert sorted(p.name for p in copy.glob('*.pth')) == ['best_score_iter_3.pth',
                                                          'iter_3.pth']
    assert resumed.message_hub.get_info('best_ckpt') == str(copy / 'best_score_iter_3.pth')


def test_checkpoints_the_runner_writes_load_and_resume_through_the_safe_loader(tmp_path):
    from mmengine.logging.history_buffer import HistoryBuffer

    from segmenter3d.checkpoint_io import load_checkpoint_file
    table = dict(HistoryBuffer._statistics_methods)
    runner = _toy_runner(tmp_path, 'CrashSafeCheckpointHook', max_iters=2)
    runner.train()
    ckpt = load_checkpoint_file(str(tmp_path / 'iter_2.pth'))
    assert ckpt['meta']['iter'] == 2 and 'config' not in ckpt['meta']
    loss = ckpt['message_hub']['log_scalars']['train/loss']
    assert type(loss) is HistoryBuffer and loss.current() == pytest.approx(
        runner.message_hub.get_scalar('train/loss').current())
    resumed = _toy_runner(tmp_path, 'CrashSafeCheckpointHook', max_iters=3)
    resumed._resume = True
    resumed.train()
    assert resumed.iter == 3 and HistoryBuffer._statistics_methods == table


def test_errors_inside_the_loop_are_one_line_with_the_trace_behind_debug(capsys):
    """``run_tool`` turns a validator's error raised while the loop runs (here as a data
    loader worker re-raises it) into the one-line ``error:`` of build time."""
    from segmenter3d.engine.runtime import run_tool

    class _Args:
        debug = False

    class _Runner:
        def train(self):
            raise ValueError('Caught ValueError in DataLoader worker process 0.\nOriginal '
                             'Traceback (most recent call last):\n  File "x.py", line 1\n'
                             "ValueError: r.npz: field 'rgb' contains NaN or Inf")

    with pytest.raises(SystemExit) as exit_:
        run_tool(lambda args: _Runner(), lambda: _Args(), 'train')
    assert exit_.value.code == "error: r.npz: field 'rgb' contains NaN or Inf"
    _Args.debug = True
    with pytest.raises(ValueError, match='Caught ValueError'):
        run_tool(lambda args: _Runner(), lambda: _Args(), 'train')


@pytest.mark.parametrize('option,match', [
    ('optim_wrapper.optimizer.lr=abc', r"optim_wrapper\.optimizer\.lr must be a number >= 0, "
                                       r"got 'abc'"),
    ('train_dataloader.batch_size=0', r'train_dataloader\.batch_size must be an integer >= 1, '
                                      r'got 0'),
])
def test_bad_learning_rate_and_batch_size_are_one_line_errors(tmp_path, option, match,
                                                              tiny_rooms):
    # checked with the options, before the runner makes its work dir
    assert not osp.exists(_refused_before_training(tmp_path, tiny_rooms, option, match))


@pytest.mark.slow
def test_a_bad_room_found_during_training_is_a_one_line_error(tmp_path, tiny_rooms):
    import shutil
    rooms = tmp_path / 'rooms'
    shutil.copytree(tiny_rooms, rooms)
    name = open(rooms / 'splits' / 'training.txt').read().split()[0]
    (rooms / 'volumes' / f'{name}.npz').write_bytes(np.zeros(8).tobytes())  # not an npz
    command = [sys.executable, 'tools/train.py', T_CFG, '--work-dir', str(tmp_path / 'w'),
               '--cfg-options', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
               *data_root_options(str(rooms))]
    from conftest import ROOT
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith('error: ') and \
        f'{name}.npz: cannot be read as .npz' in proc.stderr
    command[command.index(str(tmp_path / 'w'))] = str(tmp_path / 'w2')
    debug = subprocess.run(command + ['--debug'], cwd=ROOT, capture_output=True, text=True)
    assert debug.returncode != 0 and 'Traceback' in debug.stderr


def test_a_best_checkpoint_left_by_a_kill_is_removed_on_resume(tmp_path):
    """Killed after saving a new best checkpoint but before deleting the previous one: the
    resumed hub records the previous one, so the other stays forever unless it is removed."""
    work = tmp_path / 'work'
    _best_runner(work, 2).train()
    stray = work / 'best_score_iter_1.pth'
    stray.write_bytes((work / 'best_score_iter_2.pth').read_bytes())
    user = work / 'best_score_iter_1.pth.bak'
    user.write_bytes(b'the user kept this')
    resumed = _best_runner(work, 2)
    resumed._resume = True
    resumed.train()  # nothing left to train: before_train still runs
    assert not stray.exists() and (work / 'best_score_iter_2.pth').exists() and user.exists()
