"""More panoramas per room (segmenter3d.synthrooms.views, tools/data/render_views.py) and how the
dataset, the pipeline and the distiller read them."""
import os
import os.path as osp
import shutil

import mmcv
import numpy as np
import pytest
import torch

from conftest import CONFIGS, load_tool, tiny_teacher
from segmenter3d.datasets import VolumeDataset, load_cameras, load_room
from segmenter3d.encoding import TRUNCATION
from segmenter3d.synthrooms import Room, render_panorama, render_views

VIEWS = 3


@pytest.fixture(scope='module')
def viewed_rooms(tiny_rooms, tmp_path_factory):
    """A copy of the tiny rooms with 3 views for each training room, rendered by the tool."""
    out = str(tmp_path_factory.mktemp('views') / 'rooms')
    shutil.copytree(tiny_rooms, out)
    assert load_tool('data/render_views').main(['--data', out, '--views', str(VIEWS)]) == 0
    return out


def _training(data):
    return open(osp.join(data, 'splits', 'training.txt')).read().split()


def test_views_start_at_the_room_camera_and_stand_free_at_eye_level(viewed_rooms):
    for name in _training(viewed_rooms):
        room = load_room(osp.join(viewed_rooms, 'volumes', f'{name}.npz'))
        cameras = load_cameras(osp.join(viewed_rooms, 'cameras', f'{name}.npy'), VIEWS)
        assert cameras.shape == (VIEWS, 3) and cameras.dtype == np.float32
        np.testing.assert_array_equal(cameras[0], room['camera'])
        for camera in cameras[1:]:
            assert room['tsdf'][tuple(camera.astype(int))] >= TRUNCATION
            height = camera[2] * room['voxel_size'] + room['origin'][2]
            assert 1.4 <= height <= 1.8 or not (room['tsdf'] >= TRUNCATION).any()
        # view 0 rendered again from row 0 is the room's own panorama, pixel for pixel
        base = Room(tsdf=room['tsdf'], rgb=room['rgb'], labels=room['labels'],
                    voxel_size=float(room['voxel_size']), origin=room['origin'],
                    camera=room['camera'], room_type='')
        again = render_panorama(base, 16, 32, camera=cameras[0])
        stored = mmcv.imread(osp.join(viewed_rooms, 'images', 'training', f'{name}.png'))
        np.testing.assert_array_equal(again['rgb'][..., ::-1], stored)
        for v in range(1, VIEWS):
            image = mmcv.imread(osp.join(viewed_rooms, 'images', 'training',
                                         f'{name}_view{v}.png'))
            labels = mmcv.imread(osp.join(viewed_rooms, 'annotations', 'training',
                                          f'{name}_view{v}.png'), flag='unchanged')
            assert image.shape == (16, 32, 3) and labels.shape == (16, 32)
            assert not np.array_equal(image, stored)  # another place in the room
            # ... and the very place its camera row names
            view = render_panorama(base, 16, 32, camera=cameras[v])
            np.testing.assert_array_equal(image, view['rgb'][..., ::-1])
            np.testing.assert_array_equal(labels, view['labels'])


def test_rerun_skips_and_more_views_than_rendered_is_refused(viewed_rooms, capsys):
    name = _training(viewed_rooms)[0]
    path = osp.join(viewed_rooms, 'cameras', f'{name}.npy')
    before = os.stat(path).st_mtime_ns
    assert render_views(viewed_rooms, name, 'training', VIEWS, (16, 32)) is None
    assert os.stat(path).st_mtime_ns == before
    with pytest.raises(ValueError, match=rf'{name}\.npy: the room was rendered with 3 views, '
                                         r'5 asked'):
        render_views(viewed_rooms, name, 'training', 5, (16, 32))
    with pytest.raises(SystemExit, match='--views 1'):
        load_tool('data/render_views').main(['--data', viewed_rooms, '--views', '1'])


def test_bad_cameras_files_are_named_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'gone\.npy: cameras not found.*render_views'):
        load_cameras(str(tmp_path / 'gone.npy'), 2)
    np.save(tmp_path / 'flat.npy', np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r'flat\.npy: cameras must be a numeric \(N, 3\)'):
        load_cameras(str(tmp_path / 'flat.npy'), 2)
    np.save(tmp_path / 'nan.npy', np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match=r'nan\.npy: cameras hold NaN'):
        load_cameras(str(tmp_path / 'nan.npy'), 2)
    np.save(tmp_path / 'few.npy', np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r'few\.npy: holds 2 cameras, the dataset asks for 4'):
        load_cameras(str(tmp_path / 'few.npy'), 4)


def test_cameras_outside_the_room_are_named_errors(tmp_path):
    """Views from outside the room used to be cast as given: rays from outside its walls."""
    cameras = np.array([[1, 1, 1], [2, 9, 1], [0, 0, 0]], np.float32)
    np.save(tmp_path / 'out.npy', cameras)
    with pytest.raises(ValueError, match=r'out\.npy: camera 1 \[2\.0, 9\.0, 1\.0\] lies outside '
                       r'the room \(voxel coordinates 0\.\.\[4, 5, 6\]\)'):
        load_cameras(str(tmp_path / 'out.npy'), 3, room_shape=(5, 6, 7))
    np.testing.assert_array_equal(load_cameras(str(tmp_path / 'out.npy'), 3, (5, 10, 7)),
                                  cameras)


def _dataset(data, **kwargs):
    return VolumeDataset(
        ann_file='splits/training.txt', data_root=data,
        data_prefix=dict(volume_path='volumes', img_path='images/training',
                         camera_path='cameras'),
        pipeline=[dict(type='LoadVolume'), dict(type='LoadPanorama'),
                  dict(type='PackVolumeInputs')], **kwargs)


def test_a_dataset_of_views_gives_every_panorama_with_its_camera(viewed_rooms):
    dataset = _dataset(viewed_rooms, num_views=VIEWS)
    item = dataset[0]
    sample, name = item['data_samples'], _training(viewed_rooms)[0]
    assert sample.panorama.shape == (VIEWS, 3, 16, 32) and sample.panorama.dtype == torch.uint8
    np.testing.assert_array_equal(
        sample.metainfo['cameras'], np.load(osp.join(viewed_rooms, 'cameras', f'{name}.npy')))
    for v in range(VIEWS):  # (V, 3, H, W) BGR: view v is its file as mmcv reads it
        stem = name if v == 0 else f'{name}_view{v}'
        image = mmcv.imread(osp.join(viewed_rooms, 'images', 'training', f'{stem}.png'))
        np.testing.assert_array_equal(sample.panorama[v].permute(1, 2, 0).numpy(), image)
    with pytest.raises(ValueError, match='num_views > 1 needs data_prefix.img_path and '
                                         'data_prefix.camera_path'):
        VolumeDataset(ann_file='splits/training.txt', data_root=viewed_rooms, num_views=2)
    with pytest.raises(ValueError, match='num_views must be an integer >= 1, got 0'):
        _dataset(viewed_rooms, num_views=0)
    with pytest.raises(ValueError, match='num_views must be an integer >= 1, got 2.0'):
        _dataset(viewed_rooms, num_views=2.0)


def test_label_panoramas_of_every_view_come_with_their_images(viewed_rooms):
    """LoadPanorama(with_annotation=True): each view's label panorama, in view order."""
    dataset = VolumeDataset(
        ann_file='splits/training.txt', data_root=viewed_rooms, num_views=VIEWS,
        data_prefix=dict(volume_path='volumes', img_path='images/training',
                         seg_map_path='annotations/training', camera_path='cameras'),
        pipeline=[dict(type='LoadVolume'), dict(type='LoadPanorama', with_annotation=True),
                  dict(type='PackVolumeInputs')])
    sample, name = dataset[0]['data_samples'], _training(viewed_rooms)[0]
    assert sample.gt_panorama.shape == (VIEWS, 16, 32)
    assert sample.gt_panorama.dtype == torch.uint8
    for v in range(VIEWS):
        stem = name if v == 0 else f'{name}_view{v}'
        labels = mmcv.imread(osp.join(viewed_rooms, 'annotations', 'training', f'{stem}.png'),
                             flag='unchanged')
        np.testing.assert_array_equal(sample.gt_panorama[v].numpy(), labels)
    assert not torch.equal(sample.gt_panorama[0], sample.gt_panorama[1])
    # without the label folder the oracle's input is a named error, not a silent skip
    without = _dataset(viewed_rooms, num_views=VIEWS)
    without.pipeline.transforms[1].with_annotation = True
    with pytest.raises(ValueError, match=rf'{name}\.npz: LoadPanorama\(with_annotation=True\) '
                                         'needs the label panoramas; set '
                                         'data_prefix.seg_map_path'):
        without[0]


def test_label_scarce_dataset_keeps_labels_of_the_first_rooms_only(tiny_rooms):
    dataset = _dataset(tiny_rooms, labelled_rooms=1)
    first, second = (dataset[i]['data_samples'] for i in range(2))
    assert first.metainfo['labelled'] and (first.gt_sem_seg.data < 30).any()
    assert not second.metainfo['labelled'] and (second.gt_sem_seg.data == 255).all()
    full = _dataset(tiny_rooms)[1]['data_samples']
    assert full.metainfo['labelled'] and (full.gt_sem_seg.data < 30).any()
    with pytest.raises(ValueError, match='labelled_rooms must be an integer >= 0'):
        _dataset(tiny_rooms, labelled_rooms=-1)
    with pytest.raises(ValueError, match='labelled_rooms must be an integer >= 0 or None, '
                                         'got True'):
        _dataset(tiny_rooms, labelled_rooms=True)


def test_labelled_rooms_plus_panorama_only_rooms_config(tiny_rooms, viewed_rooms):
    """The +pano2d distillation config: every labelled room with its labels, then the first
    ``indices`` rooms of the panorama-only set, with panoramas but no 3D labels."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS

    from conftest import config_with_options
    cfg = config_with_options(
        'configs/distill/panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms+pano2d.py',
        [f'train_dataloader.dataset.datasets.0.data_root={tiny_rooms}',
         f'train_dataloader.dataset.datasets.1.data_root={viewed_rooms}',
         'train_dataloader.dataset.datasets.1.indices=1'])
    init_default_scope('mmseg')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) == len(_training(tiny_rooms)) + 1
    samples = [dataset[i]['data_samples'] for i in range(len(dataset))]
    for sample in samples[:-1]:
        assert sample.metainfo['labelled'] and (sample.gt_sem_seg.data < 30).any()
    last = samples[-1]
    assert last.metainfo['room_id'] == _training(viewed_rooms)[0]
    assert not last.metainfo['labelled'] and (last.gt_sem_seg.data == 255).all()
    assert last.panorama.shape[-2:] == (16, 32)


def test_the_teacher_sees_panoramas_at_the_size_it_was_trained_on():
    """The distiller resizes each panorama as the teacher config's test pipeline does: the
    logits of a 32x64 panorama equal those of the same panorama resized by mmcv to 16x32."""
    from mmengine.config import Config, ConfigDict
    from mmseg.registry import MODELS

    from segmenter3d.models.segmentors import panorama_logits, pipeline_resize
    assert pipeline_resize(Config.fromfile(
        f'{CONFIGS}/teacher/segmenter_vit-t_synthrooms.py')) == dict(scale=(256, 128),
                                                                    keep_ratio=False)
    torch.manual_seed(0)
    teacher = MODELS.build(ConfigDict(tiny_teacher())).eval()
    image = torch.randint(0, 256, (3, 32, 64), dtype=torch.uint8)
    small = mmcv.imresize(image.permute(1, 2, 0).numpy(), (32, 16))
    want = panorama_logits(teacher, torch.from_numpy(small.transpose(2, 0, 1).copy()), (8, 16))
    got = panorama_logits(teacher, image, (8, 16), dict(scale=(32, 16), keep_ratio=False))
    torch.testing.assert_close(got, want)
    assert not torch.allclose(panorama_logits(teacher, image, (8, 16)), want, atol=1e-3)
