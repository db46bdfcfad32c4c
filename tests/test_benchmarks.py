"""The benchmark peers run on any room size (speed numbers live in benchmarks/RESULTS.md)."""
import os
import os.path as osp
import sys

import pytest
import torch

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
import peers  # noqa: E402


def test_pad_to_multiple_crops_back_to_the_input_size():
    net = peers.PadToMultiple(torch.nn.Conv3d(4, 30, 3, padding=1), multiple=32)
    x = torch.rand(1, 4, 33, 20, 7)
    out = net(x)
    assert out.shape == (1, 30, 33, 20, 7)
    # the padding only adds zeros after the input: inside, away from the border, it is the
    # same convolution
    torch.testing.assert_close(out[..., :-1, :-1, :-1], net.net(x)[..., :-1, :-1, :-1])


@pytest.mark.skipif(not peers.available(), reason='MONAI not installed')
def test_monai_basic_unet_runs_on_an_odd_room():
    net = peers.build_peer('MONAI BasicUNet')
    with torch.no_grad():
        assert net(torch.rand(1, 4, 40, 36, 20)).shape == (1, 30, 40, 36, 20)
    with pytest.raises(ValueError, match='unknown peer'):
        peers.build_peer('UNETR++')


def test_record_replaces_the_section_of_its_benchmark_in_place(tmp_path, capsys):
    """A rerun takes its section's place (its ``###`` parts with it), a new benchmark is
    appended, a heading inside a code block is not a section; the replaced run, prose
    included, moves to the end of the history."""
    from measure import record
    path, history = tmp_path / 'RESULTS.md', tmp_path / 'history.md'
    history.write_text('# History\n\nearlier\n', encoding='utf-8')
    fence = '```\n## b.py: second\n```'
    path.write_text(f'# Benchmark results\n\nintro\n\n## a.py: first\n\nold a\n\n{fence}\n\n'
                    '### detail\n\nold detail\n## b.py: second\n\nold b\n', encoding='utf-8')
    record('\n## b.py: second\n\n2026-12-06. new b\n', str(path), str(history))
    assert path.read_text(encoding='utf-8') == (
        f'# Benchmark results\n\nintro\n\n## a.py: first\n\nold a\n\n{fence}\n\n'
        '### detail\n\nold detail\n\n## b.py: second\n\n2026-12-06. new b\n')
    record('\n## c.py: third\n\nnew c\n', str(path), str(history))
    record('\n## a.py: first\n\n2026-12-07. newer a\n', str(path), str(history))
    assert path.read_text(encoding='utf-8') == (
        '# Benchmark results\n\nintro\n\n## a.py: first\n\n2026-12-07. newer a\n\n'
        '## b.py: second\n\n2026-12-06. new b\n\n## c.py: third\n\nnew c\n')
    moved = ' (the run before, moved from benchmarks/RESULTS.md)'
    assert history.read_text(encoding='utf-8') == (
        f'# History\n\nearlier\n\n## b.py: second{moved}\n\nold b\n\n'
        f'## a.py: first{moved}\n\nold a\n\n{fence}\n\n### detail\n\nold detail\n')
    # the same section again: nothing to move
    record('\n## c.py: third\n\nnew c\n', str(path), str(history))
    assert history.read_text(encoding='utf-8').count(moved) == 2
    assert 'newer a' in capsys.readouterr().out
    with pytest.raises(ValueError, match='heading'):
        record('no heading\n', str(path), str(history))
    assert not list(tmp_path.glob('*.tmp*'))


def test_anchors_are_the_renderers_and_records_keep_the_contents_list(tmp_path):
    """Known anchors (punctuation dropped, ``_``/``-`` kept, repeats numbered); a section
    ``record`` appends, or moves to the history, gets a line in that document's contents list
    pointing at its own anchor, and a document without a list gets none."""
    from measure import anchor, headings, record
    assert anchor('train_step.py --rows baselines: seconds per step') == (
        'train_steppy---rows-baselines-seconds-per-step')
    assert anchor('Tables, mean ± std (`seeds`)') == 'tables-mean--std-seeds'
    assert anchor('Tables', ['tables', 'tables-1']) == 'tables-2'
    moved = 'a.py: first (the run before, moved from benchmarks/RESULTS.md)'
    moved_anchor = 'apy-first-the-run-before-moved-from-benchmarksresultsmd'
    path, history = tmp_path / 'RESULTS.md', tmp_path / 'history.md'
    path.write_text('# R\n\n- [a.py: first](#apy-first)\n\n## a.py: first\n\nold a\n',
                    encoding='utf-8')
    history.write_text(f'# H\n\n- [{moved}](#{moved_anchor})\n\n## {moved}\n\nolder a\n',
                       encoding='utf-8')
    record('\n## b.py: second\n\nnew b\n', str(path), str(history))
    record('\n## a.py: first\n\nnew a\n', str(path), str(history))
    lines = path.read_text(encoding='utf-8').split('\n')
    assert lines[2:5] == ['- [a.py: first](#apy-first)', '- [b.py: second](#bpy-second)', '']
    past = history.read_text(encoding='utf-8')
    listed = [line for line in past.split('\n') if line.startswith('- [')]
    # the second moved run of a.py has the same title: the renderer numbers its anchor
    assert listed == [f'- [{moved}](#{moved_anchor})', f'- [{moved}](#{moved_anchor}-1)']
    assert [name for _, _, name in headings(past)] == ['h', moved_anchor, f'{moved_anchor}-1']
    # the contents list is the first run of such lines: a link list in the body, or one in a
    # code block, is not where a new section's line goes
    body = tmp_path / 'body.md'
    body.write_text('# R\n\n- [A](#a)\n  - [A1](#a1)\n\n## A\n\nSee:\n- [the A table](#a)\n\n'
                    '```\n- [x](#y)\n```\n', encoding='utf-8')
    record('\n## B\n\nb\n', str(body), None)
    assert body.read_text(encoding='utf-8').split('\n')[2:6] == [
        '- [A](#a)', '  - [A1](#a1)', '- [B](#b)', '']
    bare = tmp_path / 'bare.md'
    bare.write_text('# R\n\n## a.py: first\n\nold\n', encoding='utf-8')
    record('\n## b.py: second\n\nnew b\n', str(bare), None)
    assert '- [' not in bare.read_text(encoding='utf-8')


def test_backbone_benchmark_compares_the_same_network():
    """The plain reference the speed goals are measured against gives our logits."""
    import backbone
    assert backbone.agreement('t') < 1e-4
    forward, module, loss = backbone.build('t', 'ours')
    x, labels = torch.rand(1, 4, 16, 16, 16), torch.randint(0, 30, (1, 16, 16, 16))
    loss(forward(x), labels).backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f'{name} got no gradient'


@pytest.mark.slow
def test_gpu_check_runs_its_cpu_subset(tmp_path):
    """``benchmarks/gpu_check.py --device cpu --quick``: every check runs and passes, from a
    working directory outside the repository."""
    import json
    import subprocess
    out = tmp_path / 'gpu_check.json'
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'benchmarks', 'gpu_check.py'),
                           '--device', 'cpu', '--quick', '--json', str(out)], cwd=str(tmp_path),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report['device'] == 'cpu' and report['quick']
    checks = report['checks']
    assert all('error' not in c for c in checks.values()), checks
    assert sum('train step' in n for n in checks) == 2  # fp32 and AMP
    distill, = (c for n, c in checks.items() if n.startswith('distillation'))
    assert distill['loss_dist'] > 0 and distill['padded_shape'] == [128, 128, 128]
    dist, = (c for n, c in checks.items() if n.startswith('dist_train'))
    assert dist['backend'] == 'gloo' and dist['iters'] == 2
    assert '| check | status |' in proc.stdout


def test_gpu_check_refuses_cuda_on_a_cpu_only_torch(capsys):
    import gpu_check
    if torch.cuda.is_available():
        pytest.skip('this torch has CUDA')
    assert gpu_check.main(['--device', 'cuda', '--quick']) == 1
    assert 'has no CUDA' in capsys.readouterr().err
    rows = gpu_check.table([('a', dict(seconds=1.0, peak_mb=2.0), None), ('b', None, 'E: x')])
    assert '| a | ok | 1.000 | 2 |' in rows and '| b | FAIL |' in rows


def test_gpu_check_refuses_bad_devices_and_report_paths_before_running(tmp_path, capsys):
    """A misspelt --device was a torch traceback; an unwritable --json failed only after every
    check had run, losing their results. Both are now one line before anything runs."""
    import gpu_check
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o500)
    cases = [(['--device', 'gpu'], '--device', 'gpu'),
             (['--json', str(tmp_path)], '--json', 'is a folder'),
             (['--json', str(tmp_path / 'file' / 'x.json')], '--json', 'cannot make its folder')]
    (tmp_path / 'file').write_text('')
    if os.access(locked, os.W_OK):  # root writes anywhere
        locked.chmod(0o700)
    else:
        cases.append((['--json', str(locked / 'x.json')], str(locked), 'not writable'))
    for argv, *names in cases:
        assert gpu_check.main(argv + ['--quick']) == 1
        err = capsys.readouterr()
        assert err.err.startswith('error: ') and len(err.err.strip().splitlines()) == 1, err
        assert all(n in err.err for n in names), err.err
        assert '...' not in err.out  # no check started
    assert sorted(p.name for p in tmp_path.iterdir()) == ['file', 'locked']


def _open3d_imports():
    try:
        import open3d  # noqa: F401
        return True
    except Exception:  # ImportError, or OSError without the system libusb-1.0
        return False


@pytest.mark.skipif(not _open3d_imports(), reason='open3d does not import')
def test_fusion_agrees_with_open3d_on_the_benchmark_frames(tmp_path):
    """Our TSDFFusion and Open3D's UniformTSDFVolume on the same frames and voxels (the
    benchmark's quick setting) give the same TSDF in the truncation band."""
    import fusion
    import numpy as np
    frames = str(tmp_path / 'frames')
    __import__('os').makedirs(frames)
    fusion.write_frames(fusion.QUICK, frames)  # rendered once, read by both
    _, _, shape, tsdf, weight = fusion.run_ours(fusion.QUICK, cube=True, labels=False,
                                             folder=frames)
    _, _, shape_o3d, tsdf_o3d, weight_o3d = fusion.run_open3d(fusion.QUICK, frames)
    assert shape == shape_o3d
    np.savez(tmp_path / 'ours.npz', tsdf=tsdf, weight=weight)
    np.savez(tmp_path / 'o3d.npz', tsdf=tsdf_o3d, weight=weight_o3d)
    median, p99, same = fusion.agreement(tmp_path / 'ours.npz', tmp_path / 'o3d.npz')
    assert median < 0.1 and p99 < 0.5 and same > 0.99


@pytest.mark.parametrize('name, params', [('SparseUNet3D (comparison)', 5_435_774),
                                          ('3DSeg-T, patch 2 (comparison)', 364_284)])
def test_room_benchmark_runs_the_comparison_models_on_whole_rooms(name, params):
    import rooms
    threads = torch.get_num_threads()
    try:
        out = rooms.child(name, n=3, voxel_size=0.25, threads=1)
    finally:
        torch.set_num_threads(threads)  # the child sets the process's thread count
    assert out['params'] == params
    # each room counted once, whole, under its own size
    assert out['voxels'] == {str(e): v[0].size for e, v in rooms.rooms(3, 0.25)}
    assert out['total'] > 0 and set(out['per_size']) == set(out['voxels'])
