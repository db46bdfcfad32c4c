"""studies/teacher_study.py: rows, class weights over several roots, data options."""
import json
import os.path as osp

import numpy as np
import pytest

from conftest import config_with_options
from segmenter3d.synthrooms import generate_dataset
from studies import teacher_study
from studies.class_weights import balanced_class_weights, label_frequencies


def test_every_row_has_a_config_its_data_options_apply_to():
    for name, row in teacher_study.ROWS.items():
        pano2d = teacher_study.trains_on_pano2d(name)
        options = (teacher_study.pano2d_options('a', 'b') if pano2d else
                   teacher_study.data_options('a'))
        cfg = config_with_options(row.config, options)
        roots = ([d.data_root for d in cfg.train_dataloader.dataset.datasets] if pano2d else
                 [cfg.train_dataloader.dataset.data_root])
        assert roots == (['a', 'b'] if pano2d else ['a']), name
        assert cfg.test_dataloader.dataset.data_root == 'a'
        # a row starting from another row's weights starts from one of the same model
        if row.init:
            init = config_with_options(teacher_study.ROWS[row.init].config, options)
            assert init.model == cfg.model, name


def test_a_row_starts_from_the_checkpoint_of_a_finished_row_only(tmp_path):
    with pytest.raises(FileNotFoundError, match='run the row'):
        teacher_study.init_checkpoint(str(tmp_path), 'p16-8k-balanced-pano2d-crop')
    (tmp_path / 'p16-8k-balanced-pano2d-crop').mkdir()
    (tmp_path / 'p16-8k-balanced-pano2d-crop' / 'record_validation.json').write_text(
        json.dumps(dict(checkpoint='w/iter_8000.pth')))
    assert teacher_study.init_checkpoint(
        str(tmp_path), 'p16-8k-balanced-pano2d-crop') == 'w/iter_8000.pth'


def test_a_continued_row_counts_the_iterations_of_every_row_it_starts_from():
    assert teacher_study.total_iters('p16-8k-balanced-pano2d-crop') == 8000
    assert teacher_study.total_iters('p16-8k+12k-balanced-pano2d-crop') == 20000
    assert teacher_study.total_iters('p16-20k+8k-balanced-pano2d-crop') == 28000


def test_class_weights_count_the_pixels_of_every_root(tmp_path):
    roots = []
    for i, rooms in enumerate((2, 4)):
        roots.append(str(tmp_path / f'r{i}'))
        generate_dataset(roots[-1], rooms, seed=i, voxel_size=0.15, pano_size=(16, 32),
                         split_ratios=(1, 0, 0))
    option = teacher_study.class_weight_option(roots)
    key, value = option.split('=')
    assert key == 'model.decode_head.loss_decode.class_weight'
    paths = [osp.join(r, 'annotations', 'training', f'room_{j:05d}.png')
             for r, n in zip(roots, (2, 4)) for j in range(n)]
    expected = balanced_class_weights(label_frequencies(paths, 30))
    np.testing.assert_allclose(json.loads(value), expected, rtol=1e-3)
    # one root alone weighs differently: the second root's pixels count
    assert teacher_study.class_weight_option(roots[:1]) != option


@pytest.mark.slow
def test_a_pano2d_row_trains_validates_reports_and_is_reused(tiny_rooms, tmp_path,
                                                             monkeypatch):
    """teacher_study.py end to end: the class-balanced teacher on the panoramas of four tiny
    rooms and of three panorama-only rooms (``p16-4k-balanced-pano2d``, trained from scratch)
    for 2 steps (``--options``), scored on the validation room's panorama, written to the JSON
    and the table; run again, nothing trains. The labelled rooms' extra views are rendered
    first and trained on."""
    import os
    import shutil

    from studies import experiments
    monkeypatch.chdir(tmp_path)  # main() moves to the repository: come back after
    # a copy: the study renders views into its rooms, and the fixture is shared
    tiny_rooms = shutil.copytree(tiny_rooms, str(tmp_path / 'rooms'))
    pano2d = str(tmp_path / 'pano2d')
    generate_dataset(pano2d, 3, seed=1, voxel_size=0.2, pano_size=(16, 32),
                     split_ratios=(1, 0, 0))
    out = tmp_path / 'out'
    tiny = ['train_cfg.max_iters=2'] + [
        f'{s}_dataloader.{k}' for s in ('train', 'val', 'test')
        for k in ('num_workers=0', 'persistent_workers=False')]
    row = 'p16-4k-balanced-pano2d'
    argv = ['--data', tiny_rooms, '--out', str(out), '--pano2d', pano2d, '--rows', row,
            '--options', *tiny]
    assert teacher_study.main(argv) == 0
    results = json.load(open(out / 'teacher_study.json'))
    assert list(results) == [row]
    result = results[row]
    record = json.load(open(out / row / 'record_validation.json'))
    assert {k: result[k] for k in ('mIoU', 'mAcc', 'aAcc')} == record['metrics']
    assert all(0 <= result[k] <= 100 for k in ('mIoU', 'mAcc', 'aAcc'))
    # scored on the validation room's own panorama
    assert 'images/validation' in open(out / f'{row}_validation.log').read()
    # the row's config file; the options: both roots, the weights of their annotations and
    # --options; the iterations and the panoramas (2 labelled rooms x 8 views + 3) it
    # trained on
    assert result['config'] == record['config'] == teacher_study.ROWS[row].config
    assert record['options'] == (experiments.pano2d_options(tiny_rooms, pano2d) +
                                 [teacher_study.class_weight_option([tiny_rooms, pano2d])] +
                                 tiny)
    assert (result['iters'], result['panoramas']) == (2, 2 * experiments.VIEWS + 3)
    assert osp.isfile(osp.join(tiny_rooms, 'images', 'training', 'room_00000_view7.png'))
    assert result['train_seconds'] == record['train_seconds'] > 0
    assert osp.isfile(record['checkpoint']) and record['checkpoint'].endswith('iter_2.pth')
    assert not osp.exists(out / 'generate_pano2d.log')  # the given rooms, none generated
    table = (out / 'teacher_study.md').read_text()
    assert (f"| {row} | {result['mIoU']:.2f} | {result['mAcc']:.2f} | {result['aAcc']:.2f} | "
            f"2 | 19 | {result['train_seconds']:.0f} | `{result['config']}` |") in table
    # a second run reuses the finished row: no training log is written again
    stamps = {p: os.stat(p).st_mtime_ns for p in out.glob('*_train.log')}
    assert list(map(osp.basename, stamps)) == [f'{row}_train.log']
    assert teacher_study.main(argv) == 0
    assert {p: os.stat(p).st_mtime_ns for p in out.glob('*_train.log')} == stamps
    assert json.load(open(out / 'teacher_study.json')) == results
