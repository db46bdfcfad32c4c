"""tools/train.py and tools/test.py end to end on a tiny generated room set."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest

from conftest import ROOT, data_root_options
from segmenter3d.checkpoint_io import load_checkpoint_file
from segmenter3d.synthrooms import generate_dataset


@pytest.fixture(scope='module')
def rooms(tiny_rooms):
    return tiny_rooms


def _options(rooms, iters):
    return ['--cfg-options'] + data_root_options(rooms) + [
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        'default_hooks.checkpoint.interval=2', 'default_hooks.checkpoint.max_keep_ckpts=10',
        'model.test_cfg.crop_size=32', 'model.test_cfg.stride=16']


def _run(args):
    proc = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_train_resume_and_test_with_pictures(rooms, tmp_path):
    cfg = 'configs/3dseg/3dseg-t_synthrooms.py'
    work = str(tmp_path / 'work')
    _run(['tools/train.py', cfg, '--work-dir', work] + _options(rooms, 2))
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    # a hostile meta['config'] (mmengine's resume would execute it): dropped, nothing runs
    import torch
    ckpt_path = osp.join(work, 'iter_2.pth')
    ckpt = torch.load(ckpt_path, weights_only=False)
    marker = tmp_path / 'pwned'
    ckpt['meta']['config'] = f"open({str(marker)!r}, 'w').write('ran')\n"
    torch.save(ckpt, ckpt_path)
    log = _run(['tools/train.py', cfg, '--work-dir', work, '--resume'] + _options(rooms, 4))
    assert 'resumed' in log.lower() and 'iter_2.pth' in log
    assert not marker.exists()
    assert osp.isfile(osp.join(work, 'iter_4.pth'))
    show = str(tmp_path / 'show')
    log = _run(['tools/test.py', cfg, osp.join(work, 'iter_4.pth'), '--work-dir',
                str(tmp_path / 'test'), '--show-dir', show] + _options(rooms, 4))
    assert 'mIoU' in log and 'surface_mIoU' in log
    assert osp.isfile(osp.join(show, 'room_00003_slices.png'))
    assert osp.isfile(osp.join(show, 'room_00003_pano.png'))


@pytest.mark.slow
def test_two_process_cpu_training_counts_each_room_once(tmp_path):
    import re
    import socket
    rooms = str(tmp_path / 'rooms')
    # 3 validation rooms over 2 ranks: the sampler pads one rank with a repeated room
    generate_dataset(rooms, 7, seed=4, voxel_size=0.2, pano_size=(16, 32),
                     split_ratios=(1, 3, 3))
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    work = str(tmp_path / 'dist')
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', 'configs/3dseg/3dseg-t_synthrooms.py', '2',
         '--work-dir', work] + _options(rooms, 2), cwd=ROOT, capture_output=True, text=True,
        env=dict(__import__('os').environ, PYTHON=sys.executable, PORT=str(port),
                 OMP_NUM_THREADS='1'))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "backend='gloo'" in log and osp.isfile(osp.join(work, 'iter_2.pth'))
    dist_miou = re.findall(r'Iter\(val\).*? mIoU: ([\d.]+)', log)[-1]
    single = _run(['tools/test.py', 'configs/3dseg/3dseg-t_synthrooms.py',
                   osp.join(work, 'iter_2.pth'), '--work-dir', str(tmp_path / 'single')] +
                  _options(rooms, 2) + ['test_dataloader.dataset.ann_file=splits/validation.txt'])
    assert re.findall(r'Iter\(test\).*? mIoU: ([\d.]+)', single)[-1] == dist_miou


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    import os

    import torch
    from mmengine.runner.checkpoint import save_checkpoint

    from segmenter3d.engine import AtomicLocalBackend  # noqa: F401  (registers it)
    path = str(tmp_path / 'iter_2.pth')
    save_checkpoint({'state_dict': {'w': torch.ones(3)}}, path,
                    backend_args=dict(backend='atomic_local'))
    before = open(path, 'rb').read()

    def killed(*args):  # the process dies after writing the bytes, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, 'replace', killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({'state_dict': {'w': torch.zeros(1000)}}, path,
                        backend_args=dict(backend='atomic_local'))
    assert open(path, 'rb').read() == before  # the previous checkpoint is intact
    assert os.listdir(tmp_path) == ['iter_2.pth']  # and no temporary file is left


@pytest.mark.slow
def test_resume_continues_exactly(rooms, tmp_path):
    """4 iterations in one go == 2 iterations, stop, --resume to 4: the same weights.

    Checks data order (mmengine replays the consumed batches, redrawing the numpy
    augmentations), optimiser state, LR schedule and stochastic depth (RNGStateHook carries
    torch's random state in the checkpoint), with a validation pass right after the
    checkpoint the resumed run starts from, as the shipped schedules do.
    """
    import torch
    cfg = 'configs/3dseg/3dseg-t_synthrooms.py'
    extra = ['randomness.seed=0', 'model.backbone.drop_path_rate=0.3',
             'train_cfg.val_interval=2']
    whole, split = str(tmp_path / 'whole'), str(tmp_path / 'split')
    _run(['tools/train.py', cfg, '--work-dir', whole] + _options(rooms, 4) + extra)
    _run(['tools/train.py', cfg, '--work-dir', split] + _options(rooms, 2) + extra)
    _run(['tools/train.py', cfg, '--work-dir', split, '--resume'] + _options(rooms, 4) + extra)
    a = load_checkpoint_file(osp.join(whole, 'iter_4.pth'))
    b = load_checkpoint_file(osp.join(split, 'iter_4.pth'))
    assert a['meta']['iter'] == b['meta']['iter'] == 4
    for k, v in a['state_dict'].items():
        assert torch.allclose(v, b['state_dict'][k], atol=1e-8, rtol=0), k
    # the schedule continued too: Adam's step counts agree
    steps = [s['step'] for s in b['optimizer']['state'].values()]
    assert steps and all(float(s) == 4 for s in steps)
    # the resumed run validated the iteration it resumed at (ValidateOnResumeHook: a run
    # stopped during that validation would otherwise never have it), and the weights above
    # show the extra validation left the training stream alone
    segments = sorted(glob.glob(osp.join(split, '2*', 'vis_data', 'scalars.json')))
    assert len(segments) == 2
    validated = [json.loads(line)['step'] for line in open(segments[-1]) if 'mIoU' in line]
    assert validated == [2, 4]


@pytest.mark.slow
def test_a_sigterm_saves_the_running_iteration_and_resume_continues_from_it(rooms, tmp_path):
    """The shipped runtime stops a run on SIGTERM with a checkpoint of the iteration it was
    in, though its schedule would checkpoint only at iteration 1000 (SaveOnStopHook); the
    run started from other weights (``load_from``, as a fine-tuning does), and ``--resume``
    continues the work dir's run, not those weights."""
    import re
    import signal
    cfg = 'configs/3dseg/3dseg-t_synthrooms.py'
    start = str(tmp_path / 'start')
    _run(['tools/train.py', cfg, '--work-dir', start] + _options(rooms, 2))
    work = str(tmp_path / 'work')
    options = _options(rooms, 1000)
    options[options.index('default_hooks.checkpoint.interval=2')] = \
        'default_hooks.checkpoint.interval=1000'
    options.append(f'load_from={osp.join(start, "iter_2.pth")}')
    proc = subprocess.Popen([sys.executable, 'tools/train.py', cfg, '--work-dir', work] +
                            options + ['default_hooks.logger.interval=1'], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if re.search(r'Iter\(train\) \[\s*2/1000\]', line):
            proc.send_signal(signal.SIGTERM)
            break
    seen += proc.stdout.readlines()
    assert proc.wait(timeout=300) == 128 + signal.SIGTERM, ''.join(seen)[-3000:]
    last = open(osp.join(work, 'last_checkpoint')).read().strip()
    done = int(re.search(r'iter_(\d+)\.pth$', last).group(1))
    assert 2 <= done < 1000 and osp.isfile(last)
    assert load_checkpoint_file(last)['meta']['iter'] == done
    assert f'stopped after iteration {done}' in ''.join(seen)
    options = _options(rooms, done + 1) + [f'load_from={osp.join(start, "iter_2.pth")}']
    log = _run(['tools/train.py', cfg, '--work-dir', work, '--resume'] + options)
    assert f'resumed from the latest checkpoint {osp.join(work, f"iter_{done}.pth")}' in log
    assert 'is not resumed' in log
    assert load_checkpoint_file(osp.join(work, f'iter_{done + 1}.pth'))['meta']['iter'] == \
        done + 1


def test_resume_keeps_a_load_from_of_the_work_dir_and_drops_other_starting_weights(
        tmp_path, monkeypatch):
    """``--resume`` with ``load_from``: weights from elsewhere are where a fine-tuning started
    (dropped: the work dir's run continues); a checkpoint of the work dir itself is the point
    of this run to resume from, as mmengine and mmseg document (kept)."""
    from conftest import load_tool
    train = load_tool('train')
    monkeypatch.setattr(train.runtime, 'runner_from_cfg', lambda cfg, config: cfg)
    monkeypatch.setattr(train, 'check_load_from', lambda cfg: None)
    monkeypatch.setattr(train, 'check_datasets', lambda cfg, splits: None)
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'last_checkpoint').write_text(str(work / 'iter_6.pth'))

    def load_from(path):
        args = train.parse_args(['configs/3dseg/3dseg-t_synthrooms.py', '--work-dir',
                                 str(work), '--resume', '--cfg-options', f'load_from={path}'])
        return train.build_runner(args).load_from

    monkeypatch.chdir(ROOT)
    assert load_from(str(tmp_path / 'start' / 'iter_2.pth')) is None
    assert load_from(str(work / 'iter_4.pth')) == str(work / 'iter_4.pth')


# The baselines with one point of the tuning grid each (learning rate, weight decay, norm;
# docs/baselines.md): the keys as a study passes them to the tools.
BASELINE_RUNS = [
    ('configs/sparseunet/sparseunet_1xb2-3k_synthrooms-32.py',
     ['model.backbone.norm_cfg._delete_=True', 'model.backbone.norm_cfg.type=GN',
      'model.backbone.norm_cfg.num_groups=8']),
    ('configs/swinunetr/swinunetr_1xb2-3k_synthrooms-32.py',
     ['model.backbone.norm_cfg._delete_=True', 'model.backbone.norm_cfg.type=BN3d']),
]


@pytest.mark.slow
@pytest.mark.parametrize('cfg,norm', BASELINE_RUNS, ids=['sparseunet', 'swinunetr'])
def test_baselines_train_and_test_on_generated_rooms(rooms, tmp_path, cfg, norm):
    """tools/train.py and tools/test.py run each baseline config on the generated rooms; the
    sparse U-Net's predictions are void wherever the input is free space."""
    import numpy as np

    from segmenter3d.datasets import load_room
    from segmenter3d.encoding import TRUNCATION
    work = str(tmp_path / 'work')
    grid = ['optim_wrapper.optimizer.lr=3e-4', 'optim_wrapper.optimizer.weight_decay=1e-4']
    _run(['tools/train.py', cfg, '--work-dir', work] + _options(rooms, 2) + grid + norm)
    ckpt = load_checkpoint_file(osp.join(work, 'iter_2.pth'))
    norms = [k for k in ckpt['state_dict'] if 'running_mean' in k]
    assert bool(norms) == ('BN3d' in norm[1])  # the grid's norm reached the model
    group = ckpt['optimizer']['param_groups'][0]  # ... and its learning rate and decay
    assert group['initial_lr'] == pytest.approx(3e-4) and group['weight_decay'] == 1e-4
    out = str(tmp_path / 'pred')
    log = _run(['tools/test.py', cfg, osp.join(work, 'iter_2.pth'), '--work-dir',
                str(tmp_path / 'test'), '--out', out] + _options(rooms, 2) + norm)
    assert 'mIoU' in log and 'surface_mIoU' in log
    name = open(osp.join(rooms, 'splits', 'test.txt')).read().split()[0]
    pred = np.load(osp.join(out, f'{name}_pred.npz'))['labels']
    tsdf = load_room(osp.join(rooms, 'volumes', f'{name}.npz'))['tsdf']
    assert pred.shape == tsdf.shape
    if 'sparseunet' in cfg:
        assert (pred[tsdf >= TRUNCATION] == 0).all()
