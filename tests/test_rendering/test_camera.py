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
