"""One camera rule: a room's own camera, else the centre of the room as stored (unpadded)."""
import numpy as np
import pytest

from segmenter3d.rendering import room_camera


def test_default_camera_is_the_centre_of_the_unpadded_room_and_inside_it():
    shape = (130, 110, 70)
    camera = room_camera(shape)
    np.testing.assert_array_equal(camera, [64.5, 54.5, 34.5])
    assert camera.dtype == np.float32
    assert ((camera >= 0) & (camera <= np.array(shape) - 1)).all()


def test_a_stored_camera_wins_and_bad_input_is_named():
    np.testing.assert_array_equal(room_camera((8, 8, 8), [1, 2, 3]), [1, 2, 3])
    with pytest.raises(ValueError, match='shape must be three positive sizes'):
        room_camera((8, 8))
    with pytest.raises(ValueError, match='camera must be three finite numbers'):
        room_camera((8, 8, 8), [1, np.nan, 3])


def test_every_reader_of_a_rooms_camera_goes_through_room_camera():
    """A room may store no camera (the release stores none): code that read ``room['camera']``
    directly failed with a KeyError on release rooms (tools/analysis/distill_report.py did)."""
    import glob
    import os.path as osp
    import re

    from conftest import ROOT
    direct = re.compile(r"""room\[['"]camera['"]\]""")  # reads that assume a camera
    consumers = ['tools', 'studies', 'benchmarks'] + [
        osp.join('projects', 'segmenter3d', p)
        for p in ('apis', 'evaluation', 'models', 'visualization', 'engine')]
    offenders = [f'{osp.relpath(path, ROOT)}:{n}: {line.strip()}'
                 for folder in consumers
                 for path in glob.glob(osp.join(ROOT, folder, '**', '*.py'), recursive=True)
                 for n, line in enumerate(open(path, encoding='utf-8'), 1)
                 if direct.search(line)]
    assert not offenders, offenders
