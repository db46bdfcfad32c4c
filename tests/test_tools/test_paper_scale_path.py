"""The paper-scale path end to end on a miniature PanoRooms3D release: 3DSeg-L trained and
tested, the ViT-B teacher trained from scratch and tested, distillation with that teacher,
then ``tools/infer.py`` on a release room. Every tool runs from a working directory outside
the repository with absolute config paths.

Only what a CPU cannot afford is shrunk: a few iterations, and panoramas of 64 x 128 instead
of 512 x 1024 (the teacher's input size and the distiller's rays follow). The networks, the
128^3 blocks, the slide windows and the padding to multiples of 128 are the paper configs'.
"""
import glob
import json
import os.path as osp
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmseg.registry import DATASETS, MODELS
from release_fixture import PANO, ROOMS, make_release_dataset

from conftest import CONFIGS, ROOT
from segmenter3d.encoding import TRUNCATION

STUDENT = osp.join(CONFIGS, '3dseg', '3dseg-l_panorooms.py')
TEACHER = osp.join(CONFIGS, 'teacher', 'segmenter_vit-b_mask_8xb1-80k_panorooms-512x1024.py')
DISTILL = osp.join(CONFIGS, 'distill', 'panokd_segmenter-vit-b_3dseg-l_panorooms.py')
LOADERS = ('train', 'val', 'test')
AUGMENT = ('RandomFlipRotateZ', 'VolumeColorJitter')


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    return make_release_dataset(str(tmp_path_factory.mktemp('panorooms3d')))


def _options(root, iters=1, validate=True):
    """Options of a run of ``iters`` steps on the rooms under ``root``, validated at its end
    (``validate``) or not (test.py covers the same slide inference)."""
    opts = [f'{k}_dataloader.dataset.data_root={root}' for k in LOADERS]
    for k in LOADERS:
        opts += [f'{k}_dataloader.num_workers=0', f'{k}_dataloader.persistent_workers=False']
    return opts + [f'train_cfg.max_iters={iters}',
                   f'train_cfg.val_interval={iters if validate else iters + 1}',
                   f'default_hooks.checkpoint.interval={iters}']


def _tool(cwd, *args):
    """A tool of the repository, by absolute path, run from ``cwd`` (not the repository)."""
    start = time.time()
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools', args[0]), *args[1:]],
                          cwd=str(cwd), capture_output=True, text=True)
    print(f'{args[0]} {osp.basename(args[1])}: {time.time() - start:.1f} s')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _metrics(work_dir):
    return json.load(open(sorted(glob.glob(osp.join(work_dir, '*', '*.json')))[-1]))


def _official_input(path):
    """The reference release's input tensor of a room, from its description: -3 * sdf128,
    then colour 2c - 1, -1 where the distance is at the free-space truncation."""
    with np.load(path) as f:
        sdf, packed = -3.0 * f['sdf128'].astype(np.float64), f['color128']
    rgb = np.stack([packed % 256, (packed // 256) % 256, (packed // 65536) % 256]) / 255.0
    colour = 2.0 * rgb - 1.0
    colour[:, sdf <= -TRUNCATION] = -1.0
    return np.concatenate([sdf[None], colour]).astype(np.float32)


def _check_encoding(config, options):
    """Every dataloader of ``config`` (with ``options``) feeds the network the official tensor
    on the room's voxels, and empty space (-3, colour -1) where it pads."""
    from conftest import config_with_options
    cfg = config_with_options(config, options)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    for loader in LOADERS:
        dataset_cfg = cfg[f'{loader}_dataloader'].dataset
        # augmentations change the input on purpose: the crop itself must be the official one
        dataset_cfg.pipeline = [t for t in dataset_cfg.pipeline if t['type'] not in AUGMENT]
        dataset = DATASETS.build(dataset_cfg)
        item = dataset[0]
        got = preprocessor(pseudo_collate([item]), False)['inputs'][0].numpy()
        meta = item['data_samples'].metainfo
        want = _official_input(meta['volume_path'])
        start = meta.get('crop_start', (0, 0, 0))
        size = [min(g, w - s) for g, w, s in zip(got.shape[1:], want.shape[1:], start)]
        room = tuple(slice(s, s + n) for s, n in zip(start, size))
        inside = got[(slice(None), ) + tuple(slice(0, n) for n in size)]
        np.testing.assert_allclose(inside, want[(slice(None), ) + room], atol=1e-5, rtol=0,
                                   err_msg=f'{config}: {loader} input')
        pad = np.ones(got.shape[1:], bool)
        pad[tuple(slice(0, n) for n in size)] = False
        assert (got[0][pad] == -TRUNCATION).all() and (got[1:, pad] == -1).all(), loader


@pytest.mark.slow
def test_paper_scale_path_on_release_rooms(release, tmp_path):
    cwd = tmp_path / 'elsewhere'  # tools start outside the repository
    cwd.mkdir()
    # 3DSeg-L: one step on a 128^3 block, then slide inference on whole rooms (the runs are
    # validated once, in the distillation run, whose validation is the student's)
    options = _options(release)
    _check_encoding(STUDENT, options)
    student = tmp_path / 'student'
    _tool(cwd, 'train.py', STUDENT, '--work-dir', str(student), '--cfg-options',
          *_options(release, validate=False))
    _tool(cwd, 'test.py', STUDENT, str(student / 'iter_1.pth'), '--work-dir',
          str(tmp_path / 'student_test'), '--cfg-options', *options)
    assert 0 <= _metrics(tmp_path / 'student_test')['mIoU'] <= 100

    # the ViT-B teacher from scratch on the release panoramas (shrunk to 64 x 128)
    teacher_cfg = tmp_path / 'teacher.py'
    teacher_cfg.write_text(f'_base_ = [{TEACHER!r}]\n'
                           f'model = dict(pretrained=None, data_preprocessor=dict(size={PANO}))\n')
    teacher = tmp_path / 'teacher'
    _tool(cwd, 'train.py', str(teacher_cfg), '--work-dir', str(teacher), '--cfg-options',
          *_options(release, validate=False))
    _tool(cwd, 'test.py', str(teacher_cfg), str(teacher / 'iter_1.pth'), '--work-dir',
          str(tmp_path / 'teacher_test'), '--cfg-options', *options)
    assert 'mIoU' in _metrics(tmp_path / 'teacher_test')
    assert Config.fromfile(str(teacher_cfg)).model.backbone.embed_dims == 768  # ViT-B

    # distillation of the trained student with that teacher on whole, padded rooms
    distill = tmp_path / 'distill'
    distill_options = options + [
        f'model.teacher_config={teacher_cfg}', f'model.teacher_checkpoint={teacher}/iter_1.pth',
        f'load_from={student}/iter_1.pth', f'model.raycaster.height={PANO[0]}',
        f'model.raycaster.width={PANO[1]}', 'default_hooks.logger.interval=1']
    _check_encoding(DISTILL, distill_options)
    log = _tool(cwd, 'train.py', DISTILL, '--work-dir', str(distill), '--cfg-options',
                *distill_options)
    assert 'loss_dist' in log and 'Iter(val)' in log  # the one validation of the path
    _tool(cwd, 'test.py', DISTILL, str(distill / 'iter_1.pth'), '--work-dir',
          str(tmp_path / 'distill_test'), '--cfg-options', *distill_options)
    assert 'mIoU' in _metrics(tmp_path / 'distill_test')

    # whole-room inference on a release room (not a multiple of 128): same labels as test.py
    name = ROOMS[-1][0]
    out = tmp_path / 'infer'
    _tool(cwd, 'infer.py', osp.join(release, 'volumes', f'{name}.npz'), '--config', STUDENT,
          '--checkpoint', str(student / 'iter_1.pth'), '--out', str(out))
    labels = np.load(out / f'{name}_labels.npz')['labels']
    assert labels.shape == ROOMS[-1][2]
    from segmenter3d.apis import init_segmentor
    from segmenter3d.datasets import load_room, room_to_input
    model = init_segmentor(STUDENT, str(student / 'iter_1.pth'))
    volume = room_to_input(load_room(osp.join(release, 'volumes', f'{name}.npz')))
    np.testing.assert_allclose(volume, _official_input(osp.join(release, 'volumes',
                                                                f'{name}.npz')), atol=1e-6, rtol=0)
    with torch.no_grad():
        want = model.inference(torch.from_numpy(volume)[None])[0].argmax(0).numpy()
    np.testing.assert_array_equal(labels, want)
    assert osp.getsize(out / f'{name}_pano.png') > 1000


@pytest.mark.slow
def test_distillation_config_trains_from_another_working_directory(tiny_rooms, tmp_path):
    """The teacher config is found beside the distillation config, not in the working dir."""
    config = osp.join(CONFIGS, 'distill', 'panokd_segmenter-vit-t_3dseg-t_synthrooms.py')
    assert osp.isabs(Config.fromfile(config).model.teacher_config)
    options = _options(tiny_rooms, 1) + ['model.test_cfg.crop_size=32',
                                         'model.test_cfg.stride=32',
                                         'default_hooks.logger.interval=1']
    log = _tool(tmp_path, 'train.py', config, '--work-dir', str(tmp_path / 'w'),
                '--cfg-options', *options)
    assert 'loss_dist' in log and osp.isfile(tmp_path / 'w' / 'iter_1.pth')
