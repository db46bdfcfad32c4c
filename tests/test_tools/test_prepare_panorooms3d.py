import json
import os
import os.path as osp
import sys

import numpy as np

from conftest import ROOT
from segmenter3d.datasets import VolumeDataset

sys.path.insert(0, osp.join(ROOT, 'tools', 'data'))
import prepare_panorooms3d as prep  # noqa: E402


def _release_room(path, seed):
    rng = np.random.default_rng(seed)
    sdf = np.ones((8, 8, 8), np.float32)
    sdf[:, :, :2] = -1 / 3  # a floor
    sdf[:, :, 2] = 0.1
    np.savez(path, sdf128=sdf, color128=rng.integers(0, 2**24, (8, 8, 8)),
             semanticlabel=np.full((8, 8, 8), 51))  # raw 51 -> floors (20)


def test_checks_a_release_copy_and_writes_complete_splits(tmp_path, capsys):
    root = tmp_path / 'pr3d'
    for d in ('volumes', 'images/training', 'annotations/training', 'images/validation',
              'annotations/validation', 'images/test', 'annotations/test', 'splits'):
        os.makedirs(root / d)
    (root / 'splits' / 'train.txt').write_text('a\nb\nc\n')
    (root / 'splits' / 'val.txt').write_text('d\n')
    (root / 'splits' / 'test.txt').write_text('e\n')
    for i, (name, split) in enumerate([('a', 'training'), ('b', 'training'), ('c', 'training'),
                                       ('d', 'validation'), ('e', 'test')]):
        _release_room(root / 'volumes' / f'{name}.npz', i)
        if name != 'b':  # b has no panorama
            (root / 'images' / split / f'{name}.jpg').write_bytes(b'jpg')
        (root / 'annotations' / split / f'{name}.png').write_bytes(b'png')
    (root / 'volumes' / 'c.npz').write_bytes(b'corrupt')
    assert prep.main([str(root), '--validate']) == 0
    out = capsys.readouterr().out
    assert 'training         1 complete of      3 listed' in out
    assert 'b: missing image' in out and 'c.npz' in out
    assert (root / 'splits' / 'training.txt').read_text() == 'a\n'
    info = json.loads((root / 'dataset_info.json').read_text())
    assert info['splits']['validation']['complete'] == 1 and set(info['problems']) == {'b', 'c'}
    # the configs' dataset reads the result, and the release room loads as classes
    ds = VolumeDataset(ann_file='splits/training.txt', data_root=str(root),
                       pipeline=[dict(type='LoadVolume'), dict(type='PackVolumeInputs')])
    labels = ds[0]['data_samples'].gt_sem_seg.data
    assert (labels[0, :, :, :2] == 20).all()
    # a rerun keeps the original lists
    assert prep.main([str(root)]) == 0
    assert (root / 'splits' / 'training.orig.txt').read_text() == 'a\nb\nc\n'


def test_missing_folder_is_a_named_error(tmp_path, capsys):
    assert prep.main([str(tmp_path / 'nope')]) == 1
    assert 'nope: dataset folder not found' in capsys.readouterr().err


def test_untrusted_split_lists_and_linked_rooms(tmp_path, capsys):
    """A split line leaving the copy is a named error; a room whose volume links to a file
    outside the copy is reported, not read, and left out of the written list."""
    root = tmp_path / 'pr3d'
    for d in ('volumes', 'images/training', 'annotations/training', 'splits'):
        os.makedirs(root / d)
    for name in ('a', 'b'):
        (root / 'images' / 'training' / f'{name}.jpg').write_bytes(b'jpg')
        (root / 'annotations' / 'training' / f'{name}.png').write_bytes(b'png')
    _release_room(root / 'volumes' / 'a.npz', 0)
    _release_room(tmp_path / 'elsewhere.npz', 1)
    os.symlink(tmp_path / 'elsewhere.npz', root / 'volumes' / 'b.npz')
    (root / 'splits' / 'training.txt').write_text('a\n../../elsewhere\n')
    assert prep.main([str(root), '--validate']) == 1
    err = capsys.readouterr().err
    assert "training.txt: line 2: room name '../../elsewhere' must be a relative path" in err
    assert (root / 'splits' / 'training.txt').read_text() == 'a\n../../elsewhere\n'
    (root / 'splits' / 'training.txt').write_text('a\nb\n')
    assert prep.main([str(root), '--validate']) == 0
    out = capsys.readouterr().out
    assert f"b: {root / 'volumes' / 'b.npz'} leads outside its folder" in out, out
    assert (root / 'splits' / 'training.txt').read_text() == 'a\n'
    assert (root / 'splits' / 'training.orig.txt').read_text() == 'a\nb\n'

    # volumes/ on another disk is a layout, not a hostile link; an empty list is no error
    os.replace(root / 'volumes', tmp_path / 'disk2')
    os.symlink(tmp_path / 'disk2', root / 'volumes')
    os.remove(root / 'volumes' / 'b.npz')
    _release_room(root / 'volumes' / 'b.npz', 1)
    (root / 'splits' / 'test.txt').write_text('')
    os.remove(root / 'splits' / 'training.orig.txt')  # the list as shipped again
    (root / 'splits' / 'training.txt').write_text('a\nb\n')
    assert prep.main([str(root), '--validate']) == 0
    assert 'training         2 complete of      2 listed' in capsys.readouterr().out
    assert (root / 'splits' / 'training.txt').read_text() == 'a\nb\n'

    # no complete room: the lists are left as they were rather than emptied
    os.remove(root / 'volumes' / 'a.npz')
    os.remove(root / 'volumes' / 'b.npz')
    assert prep.main([str(root)]) == 1
    assert 'no room of splits/training is complete' in capsys.readouterr().err
    assert (root / 'splits' / 'training.txt').read_text() == 'a\nb\n'
