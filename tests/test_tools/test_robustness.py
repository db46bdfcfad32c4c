"""Bad inputs to the tools and the checkpoint loader: named errors, nothing overwritten.

docs/robustness.md lists every bad input tried; this file holds the ones that concern runs,
configs and checkpoints (file-format cases sit with their readers' tests).
"""
import hashlib
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch

from conftest import CONFIGS, build_model_from_config, data_root_options, load_tool
from segmenter3d.apis import init_segmentor
from segmenter3d.checkpoint_io import load_weights, weight_mismatches
from segmenter3d.datasets.transforms import LoadPanorama

T_CFG = f'{CONFIGS}/3dseg/3dseg-t_synthrooms.py'


def _build(config, **overrides):
    from mmengine.config import Config
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    cfg.merge_from_dict(dict(model=overrides))
    return MODELS.build(cfg.model)


def _digest(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


@pytest.fixture(scope='module')
def t_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 't.pth'
    torch.manual_seed(0)
    model = build_model_from_config('3dseg/3dseg-t_synthrooms.py')
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)


def test_train_refuses_a_work_dir_that_holds_a_run(tmp_path):
    train = load_tool('train')
    work = tmp_path / 'work'
    work.mkdir()
    ckpt = work / 'iter_4.pth'
    ckpt.write_bytes(b'weights of an earlier run')
    (work / 'last_checkpoint').write_text(str(ckpt))
    before = _digest(ckpt)
    with pytest.raises(ValueError, match=r'already holds a run.*iter_4\.pth.*--resume.*'
                                         r'--overwrite'):
        train.build_runner(train.parse_args([T_CFG, '--work-dir', str(work)]))
    assert _digest(ckpt) == before and sorted(p.name for p in work.iterdir()) == [
        'iter_4.pth', 'last_checkpoint']


@pytest.mark.parametrize('option,match', [
    ('trian_cfg.max_iters=2', r"no 'trian_cfg' \(did you mean 'train_cfg'\?\)"),
    ('model.backbon.arch=b', r"no 'model.backbon' \(did you mean 'model.backbone'\?\)"),
    ('train_dataloader.dataset.pipeline.9.crop_size=8',
     r"no 'train_dataloader.dataset.pipeline.9'"),
])
def test_misspelt_config_keys_are_refused(tmp_path, option, match):
    train = load_tool('train')
    with pytest.raises(ValueError, match=match):
        train.build_runner(train.parse_args([T_CFG, '--work-dir', str(tmp_path),
                                             '--cfg-options', option]))
    assert not any(tmp_path.iterdir())  # nothing written


def test_known_and_runner_keys_pass(tmp_path):
    from mmengine.config import Config

    from segmenter3d.engine.option_checks import check_cfg_options
    cfg = Config.fromfile(T_CFG)
    check_cfg_options(cfg, {'train_cfg.max_iters': 2, 'model.backbone.arch': 'b',
                            'train_dataloader.dataset.pipeline.1.crop_size': 16,
                            'work_dir': 'x', 'randomness.seed': 3, 'load_from': None})
    # an argument of the type the same options switch to is known; of the old type's, not
    distill = Config.fromfile(
        f'{CONFIGS}/distill/panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py')
    check_cfg_options(distill, {'model.type': 'AnnotationOracleDistiller',
                                'model.smoothing': 0.4})
    with pytest.raises(ValueError, match=r"model\.smoothing.*PanoDistiller takes no such"):
        check_cfg_options(distill, {'model.smoothing': 0.4})
    # a dict replaced with mmengine's _delete_: a norm of another type and its arguments
    unet = Config.fromfile(f'{CONFIGS}/unet3d/unet3d_1xb2-3k_synthrooms-32.py')
    check_cfg_options(unet, {'model.backbone.norm_cfg._delete_': True,
                             'model.backbone.norm_cfg.type': 'GN',
                             'model.backbone.norm_cfg.num_groups': 8})
    with pytest.raises(ValueError, match=r"model\.backbon\b"):
        check_cfg_options(unet, {'model.backbon.norm_cfg._delete_': True})


def test_unknown_argument_of_a_part_is_named_at_build():
    with pytest.raises(TypeError, match='archh'):
        _build('3dseg/3dseg-t_synthrooms.py', backbone=dict(archh='b'))


def test_checkpoint_of_another_variant_or_class_count_is_refused(t_checkpoint, tmp_path):
    with pytest.raises(ValueError, match=r't\.pth: the checkpoint does not fit.*missing keys.*'
                                         r'backbone\.stages\.1\.blocks\.2'):
        init_segmentor(f'{CONFIGS}/3dseg/3dseg-b_1xb2-3k_synthrooms-32.py', t_checkpoint)
    scannet = _build('3dseg/3dseg-l_scannet.py', backbone=dict(arch='t', patch_size=2),
                     decode_head=dict(in_channels=96))
    with pytest.raises(ValueError, match=r'shape mismatches, e\.g\. decode_head\.token_cls\.'
                                         r'weight: \(30, .*\) in the file, \(20, .*\) in the'):
        load_weights(scannet, t_checkpoint)
    # the matching model loads, bit for bit
    model = init_segmentor(T_CFG, t_checkpoint)
    ref = torch.load(t_checkpoint)['state_dict']
    assert all(torch.equal(v, ref[k]) for k, v in model.state_dict().items())
    assert weight_mismatches(model, ref) == []


def test_missing_and_corrupt_checkpoints(t_checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nope\.pth: checkpoint not found'):
        init_segmentor(T_CFG, str(tmp_path / 'nope.pth'))
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(open(t_checkpoint, 'rb').read()[:4000])
    with pytest.raises(ValueError, match=r'cut\.pth: cannot be loaded as a checkpoint'):
        init_segmentor(T_CFG, str(cut))
    other = tmp_path / 'list.pth'
    torch.save([1, 2, 3], other)
    with pytest.raises(ValueError, match=r"list\.pth: the checkpoint holds no 'state_dict'"):
        init_segmentor(T_CFG, str(other))


def test_test_tool_refuses_a_mismatched_checkpoint(t_checkpoint, tmp_path, tiny_rooms):
    test = load_tool('test')
    args = test.parse_args([f'{CONFIGS}/3dseg/3dseg-b_1xb2-3k_synthrooms-32.py', t_checkpoint,
                            '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                            *data_root_options(tiny_rooms)])
    with pytest.raises(ValueError, match='does not fit VolumeEncoderDecoder'):
        test.build_runner(args)


def test_infer_reports_a_bad_checkpoint_in_one_line(tmp_path, capsys):
    from segmenter3d.synthrooms import generate_room, save_room_volume
    save_room_volume(generate_room(1, voxel_size=0.3), str(tmp_path / 'r.npz'))
    infer = load_tool('infer')
    (tmp_path / 'bad.pth').write_bytes(b'not a checkpoint')
    code = infer.main([str(tmp_path / 'r.npz'), '--config', T_CFG, '--checkpoint',
                       str(tmp_path / 'bad.pth'), '--out', str(tmp_path / 'out')])
    assert code == 1
    assert 'bad.pth: cannot be loaded as a checkpoint' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


def test_panorama_of_the_wrong_shape_is_a_named_error(tmp_path):
    path = str(tmp_path / 'square.png')
    mmcv.imwrite(np.zeros((32, 32, 3), np.uint8), path)
    with pytest.raises(ValueError, match=r'square\.png: panorama is 32x32'):
        LoadPanorama().transform(dict(image_path=path))
    mmcv.imwrite(np.zeros((16, 32, 3), np.uint8), path)
    assert LoadPanorama().transform(dict(image_path=path))['panorama'].shape == (16, 32, 3)


def test_bad_label_panoramas_are_named_errors(tmp_path):
    image = str(tmp_path / 'p.png')
    mmcv.imwrite(np.zeros((16, 32, 3), np.uint8), image)
    load = LoadPanorama(with_annotation=True)
    with pytest.raises(FileNotFoundError, match=r'gone\.png: label panorama not found'):
        load.transform(dict(image_path=image, seg_map_path=str(tmp_path / 'gone.png')))
    labels = str(tmp_path / 'l.png')
    mmcv.imwrite(np.zeros((16, 32, 3), np.uint8), labels)
    with pytest.raises(ValueError, match=r'l\.png: a label panorama is a single-channel 8-bit'):
        load.transform(dict(image_path=image, seg_map_path=labels))
    mmcv.imwrite(np.zeros((8, 16), np.uint8), labels)
    with pytest.raises(ValueError, match=r'l\.png: labels are 8x16, its panorama 16x32'):
        load.transform(dict(image_path=image, seg_map_path=labels))
    mmcv.imwrite(np.full((16, 32), 7, np.uint8), labels)
    out = load.transform(dict(image_path=image, seg_map_path=labels))['gt_panorama']
    assert out.shape == (16, 32) and (out == 7).all()


def test_missing_and_undecodable_panoramas(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'gone\.png: panorama not found'):
        LoadPanorama().transform(dict(image_path=str(tmp_path / 'gone.png')))
    (tmp_path / 'junk.png').write_bytes(b'\x89PNG junk')
    with pytest.raises(ValueError, match=r'junk\.png: cannot be decoded as an image'):
        LoadPanorama().transform(dict(image_path=str(tmp_path / 'junk.png')))
    with pytest.raises(ValueError, match=r'r\.npz: no panorama path; set data_prefix\.img_path'):
        LoadPanorama().transform(dict(volume_path='r.npz'))


def test_load_from_fits_partly_with_a_warning_or_not_at_all_with_an_error(t_checkpoint,
                                                                          tmp_path, tiny_rooms):
    train = load_tool('train')
    messages = []
    train.print_log = lambda msg, **kwargs: messages.append(msg)
    rooms = data_root_options(tiny_rooms)
    # fine-tuning a 30-class T into a 20-class T: allowed, the head mismatch is listed
    runner = train.build_runner(train.parse_args([
        T_CFG, '--work-dir', str(tmp_path / 'a'), '--cfg-options',
        'model.decode_head.num_classes=20', f'load_from={t_checkpoint}', *rooms]))
    assert runner.cfg.load_from == t_checkpoint
    assert len(messages) == 1 and 'decode_head.token_cls.weight: (30, 96) in the file' in \
        messages[0]
    unrelated = tmp_path / 'unrelated.pth'
    torch.save({'state_dict': {'something.else': torch.zeros(3)}}, unrelated)
    with pytest.raises(ValueError, match=r'unrelated\.pth: load_from shares no weight'):
        train.build_runner(train.parse_args([T_CFG, '--work-dir', str(tmp_path / 'b'),
                                             '--cfg-options', f'load_from={unrelated}',
                                             *rooms]))


def test_resume_with_a_checkpoint_of_another_variant_is_refused(t_checkpoint, tmp_path,
                                                               tiny_rooms):
    import shutil
    train = load_tool('train')
    work = tmp_path / 'work'
    work.mkdir()
    shutil.copy(t_checkpoint, work / 'iter_4.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_4.pth'))
    args = train.parse_args([f'{CONFIGS}/3dseg/3dseg-b_1xb2-3k_synthrooms-32.py', '--work-dir',
                             str(work), '--resume', '--cfg-options',
                             *data_root_options(tiny_rooms)])
    with pytest.raises(ValueError, match=r'iter_4\.pth: --resume with a checkpoint of another '
                                         r'model.*missing keys'):
        train.build_runner(args)
