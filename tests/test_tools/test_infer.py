import os.path as osp
import sys

import mmcv
import numpy as np
import torch

from conftest import CONFIGS, ROOT, build_model_from_config
from segmenter3d.synthrooms import generate_room, save_room_volume

sys.path.insert(0, osp.join(ROOT, 'tools'))
import infer  # noqa: E402


def test_infer_writes_labels_mesh_and_panorama_for_a_room(tmp_path):
    torch.manual_seed(0)
    model = build_model_from_config('3dseg/3dseg-t_synthrooms.py')
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'model.pth')
    room = generate_room(9, voxel_size=0.15)
    save_room_volume(room, str(tmp_path / 'r9.npz'))
    code = infer.main([str(tmp_path / 'r9.npz'), '--config',
                       f'{CONFIGS}/3dseg/3dseg-t_synthrooms.py', '--checkpoint',
                       str(tmp_path / 'model.pth'), '--out', str(tmp_path / 'out')])
    assert code == 0
    labels = np.load(tmp_path / 'out' / 'r9_labels.npz')['labels']
    assert labels.shape == room.tsdf.shape and labels.max() < 30
    # the same labels as the model's own slide inference
    from segmenter3d.datasets import load_room, room_to_input
    x = torch.from_numpy(room_to_input(load_room(str(tmp_path / 'r9.npz'))))[None]
    model.eval()
    with torch.no_grad():
        np.testing.assert_array_equal(labels, model.inference(x)[0].argmax(0).numpy())
    # the mesh: the room's zero crossing, each vertex labelled with the prediction
    from plyfile import PlyData

    from segmenter3d.taxonomy import PANOROOMS3D_PALETTE
    from segmenter3d.visualization import label_mesh
    verts, faces, _, vert_labels = label_mesh(room.tsdf, labels, PANOROOMS3D_PALETTE,
                                              room.voxel_size, room.origin)
    ply = PlyData.read(str(tmp_path / 'out' / 'r9_pred.ply'))
    assert ply['vertex'].count == len(verts) > 1000 and ply['face'].count == len(faces)
    np.testing.assert_allclose(np.stack([ply['vertex'][k] for k in 'xyz'], 1), verts,
                               atol=1e-5)
    np.testing.assert_array_equal(ply['vertex']['label'], vert_labels)
    # the panorama: input colour, then the prediction seen from the room's camera (below the
    # caption in its corner), in the palette's colours; unhit pixels white
    from segmenter3d.encoding import input_tsdf
    from segmenter3d.rendering import TSDFRaycaster
    pano = mmcv.imread(str(tmp_path / 'out' / 'r9_pano.png'), channel_order='rgb')
    assert pano.shape[1] == 512 and pano.shape[0] > 512  # two 256-row strips and the key
    caster = TSDFRaycaster(256, 512)
    camera = torch.as_tensor(room.camera, dtype=torch.float32)
    hits = caster.cast(input_tsdf(x[0, 0].float()), camera).behind(camera)
    seen = caster.project(torch.from_numpy(labels.astype(np.float32))[None], hits,
                          mode='nearest', fill=255)[0].numpy().astype(int)
    lut = np.full((256, 3), 255, np.uint8)
    lut[:30] = PANOROOMS3D_PALETTE
    np.testing.assert_array_equal(pano[256 + 20:512], lut[seen][20:])
    assert (seen < 30).mean() > 0.9  # a closed room: nearly every ray hits a surface


def test_infer_bad_room_is_a_named_error(tmp_path, capsys):
    (tmp_path / 'bad.npz').write_bytes(b'nope')
    code = infer.main([str(tmp_path / 'bad.npz'), '--config', 'x.py', '--checkpoint', 'y.pth',
                       '--out', str(tmp_path / 'out')])
    assert code == 1 and 'bad.npz: cannot be read as .npz: not a zip archive' in (
        capsys.readouterr().err)
    assert not (tmp_path / 'out').exists()  # refused before anything is written


def test_infer_on_a_scannet_mesh_writes_vertex_labels_and_the_benchmark_file(tmp_path):
    from scannet_fixture import write_scannet_scene
    from segmenter3d.datasets.scannet_io import CLASS_TO_NYU40
    info = write_scannet_scene(str(tmp_path / 'scannet'))
    torch.manual_seed(0)
    cfg = '3dseg/3dseg-l_scannet.py'
    model = build_model_from_config(cfg)
    model.init_weights()
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'model.pth')
    mesh = tmp_path / 'scannet' / 'scans' / 'scene0000_00' / 'scene0000_00_vh_clean_2.ply'
    code = infer.main([str(mesh), '--config', f'{CONFIGS}/{cfg}', '--checkpoint',
                       str(tmp_path / 'model.pth'), '--out', str(tmp_path / 'out'),
                       '--voxel-size', '0.1'])
    assert code == 0
    out = np.load(tmp_path / 'out' / 'scene0000_00_vh_clean_2_labels.npz')
    labels, vertex_labels = out['labels'], out['vertex_labels']
    assert len(vertex_labels) == len(info['vertices']) and labels.max() < 20
    # each vertex carries the prediction of the voxel it lies in
    voxel = np.round((info['vertices'] - (info['vertices'].min(0) - 0.4)) / 0.1).astype(int)
    np.testing.assert_array_equal(vertex_labels, labels[tuple(voxel.T)])
    nyu = np.loadtxt(tmp_path / 'out' / 'scene0000_00.txt', dtype=int)
    np.testing.assert_array_equal(nyu, CLASS_TO_NYU40[vertex_labels])
    from plyfile import PlyData
    ply = PlyData.read(str(tmp_path / 'out' / 'scene0000_00_vh_clean_2_pred.ply'))
    np.testing.assert_array_equal(ply['vertex']['label'], vertex_labels)
    assert len(ply['face'].data) == len(info['faces'])


def test_infer_one_voxel_and_surface_free_rooms(tmp_path, capsys):
    """A room too small to mesh is a named error before any model is loaded; a room whose TSDF
    never changes sign (observed, but no surface crossing) still gets its labels and panorama,
    and no mesh."""
    torch.manual_seed(0)
    model = build_model_from_config('3dseg/3dseg-t_synthrooms.py')
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'model.pth')
    args = ['--config', f'{CONFIGS}/3dseg/3dseg-t_synthrooms.py', '--checkpoint',
            str(tmp_path / 'model.pth'), '--out', str(tmp_path / 'out')]
    one = dict(tsdf=np.zeros((1, 1, 1), np.float16), rgb=np.zeros((3, 1, 1, 1), np.uint8),
               voxel_size=np.float32(0.08))
    np.savez(tmp_path / 'one.npz', **one)
    assert infer.main([str(tmp_path / 'one.npz')] + args) == 1
    assert 'one.npz: tsdf has shape (1, 1, 1); a room needs at least 2 voxels along every ' \
        'axis' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()
    empty = dict(tsdf=np.full((6, 5, 4), 0.5, np.float16), rgb=np.zeros((3, 6, 5, 4), np.uint8),
                 voxel_size=np.float32(0.08))
    np.savez(tmp_path / 'empty.npz', **empty)
    assert infer.main([str(tmp_path / 'empty.npz')] + args) == 0
    assert 'empty.npz: the TSDF has no zero crossing; no mesh written' in \
        capsys.readouterr().err
    assert np.load(tmp_path / 'out' / 'empty_labels.npz')['labels'].shape == (6, 5, 4)
    assert (tmp_path / 'out' / 'empty_pano.png').exists()
    assert not (tmp_path / 'out' / 'empty_pred.ply').exists()
