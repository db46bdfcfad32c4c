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
