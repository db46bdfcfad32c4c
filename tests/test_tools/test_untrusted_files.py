"""Hostile files at every entry point of the tools: crafted checkpoints are refused with a
named error wherever a checkpoint enters, and no tool deletes or overwrites outside its run."""
import os
import os.path as osp
import re
import shutil

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer

import hostile_files as hostile
from conftest import CONFIGS, build_model_from_config, data_root_options, load_tool
from segmenter3d.synthrooms import generate_room, save_room_volume

T_CFG = f'{CONFIGS}/3dseg/3dseg-t_synthrooms.py'
PAYLOADS = {
    'getattr_gadget': (hostile.getattr_gadget_checkpoint, r'getattr\('),
    'void_meta': (hostile.void_meta_checkpoint, 'numpy dtype'),
    'history_buffer_build': (hostile.history_buffer_build_checkpoint, 'statistics methods'),
    'dtype_build': (hostile.dtype_build_checkpoint, "numpy dtype 'O8'"),
}


@pytest.fixture(scope='module')
def student_state():
    return build_model_from_config('3dseg/3dseg-t_synthrooms.py').state_dict()


def _payload(tmp_path, name, state=None):
    build, match = PAYLOADS[name]
    return build(tmp_path / f'{name}.pth', state), rf'{name}\.pth: cannot be loaded.*{match}'


def _snapshot(folder):
    return {p: open(p, 'rb').read() for p in map(str, folder.rglob('*')) if osp.isfile(p)}


@pytest.mark.parametrize('payload', sorted(PAYLOADS))
def test_infer_and_the_converters_refuse_the_payloads_in_one_line(tmp_path, payload, capsys,
                                                                   student_state):
    path, match = _payload(tmp_path, payload, student_state)
    table = dict(HistoryBuffer._statistics_methods)
    room = str(tmp_path / 'rooms' / 'r0.npz')
    os.makedirs(osp.dirname(room))
    save_room_volume(generate_room(0, voxel_size=0.3), room)
    before = _snapshot(tmp_path)
    runs = [
        lambda: load_tool('infer').main([room, '--config', T_CFG, '--checkpoint', path,
                                         '--out', str(tmp_path / 'out')]),
        lambda: load_tool('model_converters/extract_student').main(
            [path, str(tmp_path / 's.pth')]),
        lambda: load_tool('model_converters/reference_to_segmenter3d').main(
            [path, str(tmp_path / 'r.pth')]),
    ]
    for run in runs:
        assert run() == 1
        err = capsys.readouterr().err
        assert err.startswith('error: ') and len(err.strip().splitlines()) == 1, err
        assert re.search(match, err), err
    assert _snapshot(tmp_path) == before  # nothing written, nothing changed
    assert HistoryBuffer._statistics_methods == table


@pytest.mark.parametrize('payload', sorted(PAYLOADS))
def test_teacher_and_pretrained_backbone_checkpoints_refuse_the_payloads(tmp_path, payload,
                                                                         student_state):
    from mmseg.registry import MODELS
    path, match = _payload(tmp_path, payload, student_state)
    from segmenter3d.checkpoint_io import load_weights
    with pytest.raises(ValueError, match=match):  # the path PanoDistiller's teacher takes
        load_weights(build_model_from_config('3dseg/3dseg-t_synthrooms.py'), path,
                     what='teacher checkpoint')
    backbone = MODELS.build(dict(type='SwinTransformer3D', arch='t', in_channels=4,
                                 init_cfg=dict(type='Pretrained', checkpoint=path)))
    with pytest.raises(ValueError, match=match):
        backbone.init_weights()
    from mmengine.model import BaseModule

    class _Plain(BaseModule):  # mmengine's own init_cfg=Pretrained path
        def __init__(self):
            super().__init__(init_cfg=dict(type='Pretrained', checkpoint=path))
            self.w = torch.nn.Linear(2, 1)

    with pytest.raises(ValueError, match=match):
        _Plain().init_weights()


@pytest.mark.slow
@pytest.mark.parametrize('payload', sorted(PAYLOADS))
def test_train_resume_load_from_and_test_refuse_the_payloads(tmp_path, payload, tiny_rooms,
                                                             student_state):
    path, match = _payload(tmp_path, payload, student_state)
    rooms = data_root_options(tiny_rooms)
    train, test = load_tool('train'), load_tool('test')
    work = tmp_path / 'work'
    work.mkdir()
    shutil.copy(path, work / 'iter_4.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_4.pth'))
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=match.replace(payload, 'iter_4')):
        train.build_runner(train.parse_args([T_CFG, '--work-dir', str(work), '--resume',
                                             '--cfg-options', *rooms]))
    with pytest.raises(ValueError, match=match):
        train.build_runner(train.parse_args([T_CFG, '--work-dir', str(tmp_path / 'w2'),
                                             '--cfg-options', f'load_from={path}', *rooms]))
    with pytest.raises(ValueError, match=match):
        test.build_runner(test.parse_args([T_CFG, path, '--work-dir', str(tmp_path / 'w3'),
                                           '--cfg-options', *rooms]))
    after = _snapshot(tmp_path)  # the runs' own logs aside, nothing changed or went
    assert {p: after.get(p) for p in before} == before
    assert all(p.startswith((str(work), str(tmp_path / 'w2'), str(tmp_path / 'w3')))
               for p in set(after) - set(before))
    assert not osp.exists('pwned')


# --- nothing outside the run is overwritten ---------------------------------------------------

def test_converters_refuse_to_write_over_their_input(tmp_path, capsys, student_state):
    src = tmp_path / 'student.pth'
    torch.save({'state_dict': student_state, 'meta': {}}, src)
    (tmp_path / 'link.pth').symlink_to(src)
    os.link(src, tmp_path / 'hard.pth')
    before = src.read_bytes()
    extract = load_tool('model_converters/extract_student')
    convert = load_tool('model_converters/reference_to_segmenter3d')
    for dst in ('student.pth', 'link.pth', 'hard.pth', 'sub/../student.pth'):
        for tool in (extract, convert):
            assert tool.main([str(src), str(tmp_path / dst)]) == 1
            assert 'is the input' in capsys.readouterr().err
    assert src.read_bytes() == before and (tmp_path / 'link.pth').is_symlink()
    for dst, message in ((src / 'o.pth', 'is a file, not a folder'),
                         (tmp_path, 'is a folder; name a file')):
        for tool in (extract, convert):  # named before loading, not a trace at the save
            assert tool.main([str(src), str(dst)]) == 1
            assert message in capsys.readouterr().err
    assert src.read_bytes() == before


@pytest.fixture(scope='module')
def t_model(tmp_path_factory):
    path = tmp_path_factory.mktemp('model') / 't.pth'
    torch.manual_seed(0)
    model = build_model_from_config('3dseg/3dseg-t_synthrooms.py')
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path)


def test_infer_refuses_an_out_holding_its_input_and_files_it_did_not_write(tmp_path, t_model,
                                                                            capsys):
    infer = load_tool('infer')
    scene = tmp_path / 'scene0000_00'
    scene.mkdir()
    room = str(scene / 'room.npz')
    save_room_volume(generate_room(1, voxel_size=0.3), room)
    (scene / 'scene0000_00.txt').write_text('ScanNet metadata\n')
    args = ['--config', T_CFG, '--checkpoint', t_model]
    assert infer.main([room, *args, '--out', str(scene)]) == 1
    assert f'--out {scene}: holds the input {room}' in capsys.readouterr().err
    assert sorted(os.listdir(scene)) == ['room.npz', 'scene0000_00.txt']
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'room_pano.png').write_bytes(b'a picture of the user')
    assert infer.main([room, *args, '--out', str(out)]) == 1
    assert 'room_pano.png: exists and was not written by this tool' in capsys.readouterr().err
    assert (out / 'room_pano.png').read_bytes() == b'a picture of the user'
    os.remove(out / 'room_pano.png')
    assert infer.main([room, *args, '--out', str(out)]) == 0
    first = (out / 'room_labels.npz').read_bytes()
    assert infer.main([room, *args, '--out', str(out)]) == 0  # its own outputs: replaced
    assert (out / 'room_labels.npz').read_bytes() == first
    assert sorted(open(out / '.segmenter3d-outputs').read().split()) == [
        'room_labels.npz', 'room_pano.png', 'room_pred.ply']


def test_infer_refuses_a_huge_room_with_its_estimate_before_reading_it(tmp_path, t_model,
                                                                        capsys):
    """A 2000x2000x10 room (a few hundred KB) would pad to 2000x2000x32 windows."""
    import time
    path = tmp_path / 'huge.npz'
    np.savez_compressed(path, tsdf=np.full((2000, 2000, 10), 3, np.float16),
                        rgb=np.zeros((3, 2000, 2000, 10), np.uint8))
    assert path.stat().st_size < 2_000_000
    infer = load_tool('infer')
    start = time.perf_counter()
    args = [str(path), '--config', T_CFG, '--checkpoint', t_model, '--out', str(tmp_path / 'o')]
    assert infer.main(args) == 1  # the defaults: 10 minutes of CPU
    err = capsys.readouterr().err
    assert time.perf_counter() - start < 10
    assert 'huge.npz: a room of 2000x2000x10 voxels (128,000,000 once padded to the window) ' \
           'needs about 5.6 GB and 17 min of CPU, beyond the limit of time 10 min' in err, err
    assert infer.main(args + ['--max-memory-gb', '4']) == 1
    err = capsys.readouterr().err
    assert 'beyond the limit of memory 4.0 GB and time 10 min' in err, err
    assert '--no-limits' in err and not (tmp_path / 'o').exists()
    assert infer.main(args + ['--max-minutes', '1', '--max-memory-gb', '100']) == 1
    assert 'beyond the limit of time 1 min' in capsys.readouterr().err
    assert infer.main(args + ['--device', 'cpu:0', '--max-memory-gb', '100']) == 1  # CPU too
    assert 'beyond the limit of time 10 min' in capsys.readouterr().err
    assert infer.main(args + ['--max-voxels', '1000']) == 1
    assert 'beyond the limit of 1,000' in capsys.readouterr().err
    bomb = hostile.zip_bomb_room(tmp_path / 'bomb.npz', (1024, 1024, 576))
    start = time.perf_counter()
    assert infer.main([bomb] + args[1:]) == 1
    assert time.perf_counter() - start < 5  # the model is not even built
    assert "bomb.npz: field 'tsdf' declares shape (1024, 1024, 576): 603,979,776 voxels, " \
        'beyond the limit of 600,000,000' in capsys.readouterr().err
    assert infer.main(args + ['--voxel-size', '1e38']) == 1
    assert 'error: --voxel-size 1e+38: metres per voxel, between 0.001 and 1' in \
        capsys.readouterr().err


def test_the_generator_refuses_a_folder_it_did_not_make(tmp_path):
    from segmenter3d.synthrooms import generate_dataset
    target = tmp_path / 'holiday'
    (target / 'images' / 'training').mkdir(parents=True)
    (target / 'images' / 'training' / 'room_00000.png').write_bytes(b'a photo')
    (target / 'splits').mkdir()
    (target / 'splits' / 'training.txt').write_text('my list\n')
    before = _snapshot(target)
    with pytest.raises(ValueError, match=r'holiday: not empty and holds no generator\.json'):
        generate_dataset(str(target), 2, voxel_size=0.3, pano_size=(8, 16))
    assert _snapshot(target) == before
    tool = load_tool('data/generate_synthrooms')
    with pytest.raises(SystemExit, match='error: .*holiday: not empty'):
        tool.main(['--out', str(target), '--num-rooms', '2'])
    assert _snapshot(target) == before


def test_render_views_never_writes_outside_the_data_folder(tmp_path, tiny_rooms, capsys):
    data = tmp_path / 'rooms'
    shutil.copytree(tiny_rooms, data)
    victim = tmp_path / 'victim2'
    victim.mkdir()
    name = open(data / 'splits' / 'training.txt').read().split()[0]
    # a symlink inside the data folder, and a split line walking through it
    os.symlink(victim, data / 'images' / 'training' / 'X')
    render = load_tool('data/render_views')
    for line in ('X/../../../../victim2/holiday', f'X/{name}'):
        (data / 'splits' / 'training.txt').write_text(f'{line}\n')
        try:  # a bad split line stops the tool; a room that leads outside is named
            code = render.main(['--data', str(data), '--views', '2', '--pano-size', '8', '16'])
            err = capsys.readouterr().err
        except SystemExit as exit_:
            code, err = 1, str(exit_)
        assert code == 1 and re.search(r'error: .*leads outside it|error: .*without', err), err
    from segmenter3d.synthrooms import render_views
    with pytest.raises(ValueError, match=rf"training: room 'X/{name}_view1\.png' leads "
                                         'outside it'):
        render_views(str(data), f'X/{name}', 'training', 2, (8, 16))
    assert list(victim.iterdir()) == []
