"""Hostile options and files for tools/test.py and the analysis tools: one ``error:`` line
naming the option or the file, before any model is loaded and before anything is written."""
import os
import os.path as osp
import sys

import pytest

from conftest import CONFIGS, ROOT, load_tool
from segmenter3d.engine.runtime import report_bad_input

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import distill_report  # noqa: E402
import hit_agreement  # noqa: E402
import kd_fit_probe  # noqa: E402

T_CFG = f'{CONFIGS}/3dseg/3dseg-t_synthrooms.py'
DISTILL = 'panokd_logits-tau1_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms-tiles32.py'


def _one_error(capsys, main, argv):
    assert report_bad_input(main, argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: '), err
    return err[0]


@pytest.fixture
def no_models(monkeypatch):
    """Every option check must come before the (slow) models are built."""
    def refuse(*args, **kwargs):
        raise AssertionError('a model was built before the options were checked')
    monkeypatch.setattr(hit_agreement, 'build_model_and_rooms', refuse)
    monkeypatch.setattr(kd_fit_probe, 'build_model_and_rooms', refuse)
    monkeypatch.setattr(distill_report, 'init_segmentor', refuse)


MODEL = ['c.py', 'ckpt.pth', '--teacher-config', 't.py', '--teacher-checkpoint', 't.pth']


@pytest.mark.parametrize('tool,options,message', [
    (hit_agreement, ['--rooms', '0'], '--rooms 0: score at least 1 room'),
    (hit_agreement, ['--min-confidence', 'nan'], '--min-confidence nan: a probability in 0..1'),
    (hit_agreement, ['--min-confidence', '2'], '--min-confidence 2.0: a probability'),
    (kd_fit_probe, ['--every', '0'], '--every 0: steps >= 0, every >= 1'),
    (kd_fit_probe, ['--steps', '-1'], '--steps -1'),
    (kd_fit_probe, ['--lr', 'inf'], '--lr inf: a positive finite learning rate'),
    (kd_fit_probe, ['--room', '0', '--held-out', '0'], '--room and --held-out are both 0'),
])
def test_analysis_options_are_named_before_models_load(capsys, no_models, tool, options,
                                                       message):
    assert message in _one_error(capsys, tool.main, MODEL + options)


def test_malformed_cfg_options_are_an_argument_error(capsys):
    with pytest.raises(SystemExit) as info:
        kd_fit_probe.main(MODEL + ['--cfg-options', 'notakv'])
    assert info.value.code == 2
    assert 'argument --cfg-options: notakv: key=value pairs' in capsys.readouterr().err


@pytest.mark.parametrize('key', ['train_dataloader.dataset.data_root=elsewhere',
                                 'train_dataloader.dataset.ann_file=splits/x.txt',
                                 'train_dataloader.dataset.data_prefix.img_path=images/x'])
def test_room_choosing_overrides_are_refused_not_replaced(capsys, monkeypatch, key):
    monkeypatch.chdir(ROOT)
    built = []
    monkeypatch.setattr(hit_agreement.MODELS, 'build', lambda cfg: built.append(cfg))
    message = _one_error(capsys, kd_fit_probe.main,
                         [f'{CONFIGS}/distill/{DISTILL}'] + MODEL[1:] + ['--cfg-options', key])
    assert f"--cfg-options {key.split('=')[0]}: the rooms are chosen with --data and --split" \
        in message
    assert not built  # refused before any model is built


def test_other_overrides_reach_the_model(monkeypatch):
    monkeypatch.chdir(ROOT)  # the tool moves to the repository; come back after
    seen = []

    def stop(cfg):
        seen.append(cfg)
        raise KeyboardInterrupt  # enough: the config as the model would be built from it
    monkeypatch.setattr(hit_agreement.MODELS, 'build', stop)
    with pytest.raises(KeyboardInterrupt):
        kd_fit_probe.main([f'{CONFIGS}/distill/{DISTILL}'] + MODEL[1:] +
                          ['--cfg-options', 'model.distill_loss.tau=3.5'])
    assert seen[0].distill_loss.tau == 3.5


def test_a_config_that_is_not_a_distiller_is_named(capsys):
    message = _one_error(capsys, hit_agreement.main, [T_CFG] + MODEL[1:])
    assert "3dseg-t_synthrooms.py: model type 'VolumeEncoderDecoder' is not a distiller" in \
        message


def test_distill_report_checks_its_output_and_inputs_first(tmp_path, tiny_rooms, capsys,
                                                           no_models):
    blocker = tmp_path / 'afile'
    blocker.write_bytes(b'keep')
    base = ['c.py', 'b.pth', 'a.pth', '--teacher-config', 't.py', '--teacher-checkpoint',
            't.pth', '--data-root', tiny_rooms]
    for out, message in (
            (blocker / 'report', f'--out {blocker}/report: {blocker} is a file, not a folder'),
            ('', '--out is empty'),
            (osp.join(tiny_rooms, 'images'), f'inside --data-root {tiny_rooms}')):
        assert message in _one_error(capsys, distill_report.main, base + ['--out', str(out)])
    out = str(tmp_path / 'report')
    assert 'at most 100,000,000 pixels' in _one_error(
        capsys, distill_report.main, base + ['--out', out, '--pano-size', '100000', '200000'])
    empty = tmp_path / 'rooms'
    (empty / 'splits').mkdir(parents=True)
    (empty / 'splits' / 'test.txt').write_text('')
    assert 'test.txt: split file lists no rooms' in _one_error(
        capsys, distill_report.main, base[:-1] + [str(empty), '--out', out])
    assert blocker.read_bytes() == b'keep' and not os.path.exists(out)


def test_test_tool_checks_folders_checkpoint_and_config_before_the_runner(
        tmp_path, tiny_rooms, monkeypatch, capsys):
    from segmenter3d.engine import runtime
    test = load_tool('test')
    blocker = tmp_path / 'afile'
    blocker.write_bytes(b'keep')
    (tmp_path / 'ckpt.pth').write_bytes(b'x')
    (tmp_path / 'broken.py').write_text('model = dict(type=\n')
    data = f'test_dataloader.dataset.data_root={tiny_rooms}'
    work = str(tmp_path / 'w')
    cases = [
        ([T_CFG, str(tmp_path / 'ckpt.pth'), '--work-dir', ''], '--work-dir is empty'),
        ([T_CFG, str(tmp_path / 'ckpt.pth'), '--work-dir', work, '--out', str(blocker / 'o')],
         f'--out {blocker}/o: {blocker} is a file, not a folder'),
        ([T_CFG, str(tmp_path / 'ckpt.pth'), '--work-dir', work, '--out', ''], '--out is empty'),
        ([T_CFG, str(tmp_path / 'ckpt.pth'), '--work-dir', tiny_rooms, '--cfg-options', data],
         f'--work-dir {tiny_rooms}: inside the data root'),
        ([T_CFG, str(tmp_path / 'gone.pth'), '--work-dir', work, '--cfg-options', data],
         'gone.pth: checkpoint not found'),
        ([str(tmp_path / 'broken.py'), str(tmp_path / 'ckpt.pth'), '--work-dir', work],
         'broken.py: not a usable config (SyntaxError'),
    ]
    for argv, message in cases:
        monkeypatch.setattr(sys, 'argv', ['test.py'] + argv)
        with pytest.raises(SystemExit) as info:
            runtime.run_tool(test.build_runner, test.parse_args, 'test')
        assert str(info.value).startswith('error: ') and message in str(info.value), info.value
    assert blocker.read_bytes() == b'keep' and not osp.exists(work)  # no log folder made
    monkeypatch.setattr(sys, 'argv', ['test.py', T_CFG, 'c.pth', '--cfg-options', 'notakv'])
    with pytest.raises(SystemExit) as info:
        runtime.run_tool(test.build_runner, test.parse_args, 'test')
    assert info.value.code == 2 and 'argument --cfg-options: notakv' in capsys.readouterr().err
