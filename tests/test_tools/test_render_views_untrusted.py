"""tools/data/render_views.py on hostile options, split lists and rooms: options and lists are
one ``error:`` line before anything is rendered; a room that cannot be rendered is named with
its file while the others are rendered, and the exit code is 1."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest

from conftest import load_tool
from segmenter3d.synthrooms import views

render = load_tool('data/render_views')


@pytest.fixture
def rooms(tiny_rooms, tmp_path):
    data = str(tmp_path / 'rooms')
    shutil.copytree(tiny_rooms, data)
    return data


def _names(data, split):
    return open(osp.join(data, 'splits', f'{split}.txt')).read().split()


def _exits(data, *options):
    with pytest.raises(SystemExit) as info:
        render.main(['--data', data, *options])
    message = str(info.value)
    assert message.startswith('error: ') and '\n' not in message, message
    assert not osp.isdir(osp.join(data, 'cameras')) or not os.listdir(osp.join(data, 'cameras'))
    return message


@pytest.mark.parametrize('options,message', [
    (('--views', '1000000000'), '--views 1000000000: at most 64 panoramas a room'),
    (('--views', '2', '--seed', '-1'), '--seed must be >= 0 and --workers >= 1, got -1'),
    (('--views', '2', '--workers', '0'), '--workers >= 1, got 0 and 0'),
    (('--views', '2', '--pano-size', '1', '1'), '--pano-size must be H W, at least 8 x 16'),
    (('--views', '2', '--pano-size', '100000', '100000'), 'at most 100,000,000 pixels'),
])
def test_options_are_named_before_any_room_is_rendered(rooms, options, message):
    assert message in _exits(rooms, *options)


def test_own_panoramas_that_cannot_give_the_size_are_named(rooms):
    first = osp.join(rooms, 'images', 'training', f'{_names(rooms, "training")[0]}.png')
    with open(first, 'wb') as f:
        f.write(b'not a picture')
    assert f'{first}: cannot be decoded as an image; pass --pano-size H W' in _exits(
        rooms, '--views', '2')
    import cv2
    cv2.imwrite(first, np.zeros((1, 1, 3), np.uint8))
    assert f'{first}: the panorama must be H W, at least 8 x 16' in _exits(rooms, '--views', '2')


def test_a_room_in_two_splits_is_refused(rooms):
    name = _names(rooms, 'training')[0]
    with open(osp.join(rooms, 'splits', 'validation.txt'), 'a') as f:
        f.write(f'{name}\n')
    message = _exits(rooms, '--views', '2', '--splits', 'training', 'validation')
    assert f"validation.txt: room '{name}' is also listed in splits/training.txt" in message


def test_a_bad_room_is_named_and_the_others_are_rendered(rooms, capsys, monkeypatch):
    """A room listed in a split its panorama is not in, and a room with no free space: both
    named with their file, the rest rendered, exit 1; nothing of theirs is written."""
    first, second = _names(rooms, 'training')
    stray = _names(rooms, 'test')[0]
    with open(osp.join(rooms, 'splits', 'training.txt'), 'w') as f:
        f.write(f'{first}\n{second}\n{stray}\n')  # the test room, listed under training
    choose = views.eye_level_cameras

    def no_space_in_first(tsdf, *args):
        if tsdf.shape == no_space_in_first.shape:
            raise ValueError('the room has no free space for a camera')
        return choose(tsdf, *args)

    no_space_in_first.shape = np.load(osp.join(rooms, 'volumes', f'{first}.npz'))['tsdf'].shape
    other = np.load(osp.join(rooms, 'volumes', f'{second}.npz'))['tsdf'].shape
    assert other != no_space_in_first.shape  # the fake must pick one room only
    monkeypatch.setattr(views, 'eye_level_cameras', no_space_in_first)
    assert render.main(['--data', rooms, '--views', '2']) == 1
    err = capsys.readouterr().err
    assert 'error: 2 of 3 rooms could not be rendered' in err
    assert (f"training/{first}: {osp.join(rooms, 'volumes', first)}.npz: the room has no free "
            'space for a camera') in err, err
    assert f"images/training/{stray}.png: the room's own panorama is not in training" in err
    assert os.listdir(osp.join(rooms, 'cameras')) == [f'{second}.npy']
    assert sorted(f for f in os.listdir(osp.join(rooms, 'images', 'training'))
                  if '_view' in f) == [f'{second}_view1.png']
