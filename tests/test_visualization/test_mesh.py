import numpy as np
import pytest
from plyfile import PlyData

from segmenter3d.visualization import label_mesh, write_ply

PALETTE = [(0, 0, 0), (255, 0, 0), (0, 255, 0)]


def test_box_mesh_vertices_lie_on_the_surface_and_carry_the_solid_label(tmp_path):
    idx = np.stack(np.meshgrid(*[np.arange(20)] * 3, indexing='ij'), -1).astype(np.float32)
    tsdf = np.clip(np.minimum(idx - 3.5, 15.5 - idx).min(-1), -3, 3)  # free box inside walls
    labels = np.zeros((20, 20, 20), np.uint8)
    labels[tsdf < 0] = 1
    labels[:, :, :4] = 2  # the floor slab
    verts, faces, colors, vlab = label_mesh(tsdf, labels, PALETTE, voxel_size=0.5,
                                            origin=(10., 0., 0.))
    v = (verts - np.array([10., 0., 0.])) / 0.5
    # every vertex sits on one of the six walls at 3.5 or 15.5 voxels
    on_wall = (np.abs(v - 3.5) < 1e-3) | (np.abs(v - 15.5) < 1e-3)
    assert on_wall.any(1).all()
    floor = np.abs(v[:, 2] - 3.5) < 1e-3
    interior = ((v[:, :2] > 4) & (v[:, :2] < 15)).all(1)
    assert (vlab[floor & interior] == 2).all() and (vlab[~floor & (v[:, 2] > 5)] == 1).all()
    assert (colors[vlab == 2] == (0, 255, 0)).all()
    write_ply(str(tmp_path / 'm.ply'), verts, faces, colors, vlab)
    ply = PlyData.read(str(tmp_path / 'm.ply'))
    assert ply['vertex'].count == len(verts) and ply['face'].count == len(faces)
    np.testing.assert_array_equal(ply['vertex']['label'], vlab)


def test_no_surface_is_a_clear_error():
    with pytest.raises(ValueError, match='no zero crossing'):
        label_mesh(np.full((4, 4, 4), 3.0), np.zeros((4, 4, 4), np.uint8), PALETTE)
