"""A non-editable install (``pip install .``): the package alone is copied, and the tools of
the checkout run against it from any working directory."""
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, data_root_options


@pytest.mark.slow
def test_a_non_editable_install_runs_the_tools_from_elsewhere(tiny_rooms, tmp_path):
    # built from a copy: pip builds in the source tree, which must not gain a build/ folder
    source = tmp_path / 'source'
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        '.venv', '.git', 'work_dirs', 'data', 'build', '*.egg-info', '__pycache__'))
    site = tmp_path / 'site'
    proc = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
                           '--no-build-isolation', '--target', str(site), str(source)],
                          capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert osp.isfile(site / 'segmenter3d' / 'rendering' / 'camera.py')
    assert not (site / 'studies').exists() and not (site / 'tools').exists()
    env = dict(os.environ, PYTHONPATH=str(site))  # the copy, not the checkout, is imported
    where = subprocess.run([sys.executable, '-c', 'import segmenter3d as s; print(s.__file__)'],
                           capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr
    config = osp.join(ROOT, 'configs', '3dseg', '3dseg-t_synthrooms.py')
    options = ['--cfg-options'] + data_root_options(tiny_rooms) + [
        'train_cfg.max_iters=1', 'train_cfg.val_interval=1', 'model.test_cfg.crop_size=32',
        'model.test_cfg.stride=32', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False']
    for args in (['train.py', config, '--work-dir', str(tmp_path / 'w')],
                 ['test.py', config, str(tmp_path / 'w' / 'iter_1.pth'), '--work-dir',
                  str(tmp_path / 't')]):
        proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools', args[0])] + args[1:] +
                              options, capture_output=True, text=True, cwd=str(tmp_path),
                              env=env)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'mIoU' in proc.stdout + proc.stderr


def test_the_import_guard_allows_the_versions_the_requirements_pin():
    """``segmenter3d/__init__.py`` refuses mm versions outside requirements/mminstall.txt's
    ranges; the two are written twice (pip cannot import the package), so they must agree."""
    import re

    import segmenter3d
    pins = {}
    with open(osp.join(ROOT, 'requirements', 'mminstall.txt')) as f:
        for line in f:
            match = re.match(r'(mmcv|mmengine)>=([\w.]+),<([\w.]+)', line)
            if match:
                pins[match[1]] = (match[2], match[3])
    assert pins == {'mmcv': (segmenter3d.MMCV_MIN, segmenter3d.MMCV_MAX),
                    'mmengine': (segmenter3d.MMENGINE_MIN, segmenter3d.MMENGINE_MAX)}
