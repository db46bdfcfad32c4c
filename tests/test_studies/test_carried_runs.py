"""studies/carried_runs.py: a stopped curve run parked in the repository and restored on
another machine resumes from the same bytes; a parked copy is untrusted input."""
import json
import os
import os.path as osp
import shutil
import zipfile

import numpy as np
import pytest
import torch

from studies import baseline_study, carried_runs, learning_curves


def _rooms(root, value=1.0):
    os.makedirs(root / 'splits', exist_ok=True)
    (root / 'splits' / 'train.txt').write_text('room_000\n')
    np.savez(root / 'room_000.npz', tsdf=np.full((2, 2, 2), value, np.float32),
             label=np.arange(8, dtype=np.uint8).reshape(2, 2, 2))
    return str(root)


def _checkpoint(path, step):
    torch.save({'meta': {'iter': step}, 'state_dict': {'w': torch.full((3,), float(step))},
                'optimizer': {'state': {0: {'exp_avg': torch.ones(3)}}, 'param_groups': []}},
               path)


def _stopped_run(run_dir, options=('a=1',), config='c.py'):
    """What a run stopped through its driver leaves: two segments' logs, its last and best
    checkpoints, the state."""
    os.makedirs(run_dir)
    for stamp, steps in (('20261206_190000', (10, 20)), ('20261206_200000', (20, 30))):
        os.makedirs(run_dir / stamp / 'vis_data')
        with open(run_dir / stamp / 'vis_data' / 'scalars.json', 'w') as f:
            for step in steps:
                f.write(json.dumps(dict(step=step, mIoU=step / 2)) + '\n')
    _checkpoint(run_dir / 'iter_34.pth', 34)
    _checkpoint(run_dir / 'best_mIoU_iter_30.pth', 30)
    (run_dir / 'last_checkpoint').write_text(str(run_dir / 'iter_34.pth'))
    (run_dir / 'curve_state.json').write_text(json.dumps(
        dict(config=config, options=list(options), segments=[50.0, 60.0], trained=False)))


def test_a_parked_run_is_restored_elsewhere_byte_for_byte(tmp_path):
    data = _rooms(tmp_path / 'data')
    out, dest = tmp_path / 'out', tmp_path / 'unfinished'
    _stopped_run(out / 'curves-x8' / 'unet3d' / 'seed0')
    assert carried_runs.park(str(out), 'curves-x8', data, str(dest)) == {
        'unet3d/seed0': 'parked at iteration 34'}
    parked = dest / 'curves-x8' / 'unet3d' / 'seed0'
    manifest = json.load(open(parked / 'manifest.json'))
    assert sorted(manifest['files']) == [
        '20261206_190000.scalars.json', '20261206_200000.scalars.json',
        'best_mIoU_iter_30.pth', 'curve_state.json', 'iter_34.pth']
    # the best checkpoint is only tested: its weights, not its optimizer
    best = torch.load(parked / 'best_mIoU_iter_30.pth', weights_only=True)
    assert set(best) == {'meta', 'state_dict'} and best['state_dict']['w'].tolist() == [30.0] * 3

    # another machine: another folder, the same rooms generated again
    run = tmp_path / 'elsewhere' / 'seed0'
    assert carried_runs.restore(str(parked), str(run), _rooms(tmp_path / 'data2')) == 34
    original = out / 'curves-x8' / 'unet3d' / 'seed0'
    assert (run / 'iter_34.pth').read_bytes() == (original / 'iter_34.pth').read_bytes()
    assert (run / 'last_checkpoint').read_text() == str(run / 'iter_34.pth')
    assert json.load(open(run / 'curve_state.json'))['segments'] == [50.0, 60.0]
    assert learning_curves.read_curve(str(run), 1.0) == learning_curves.read_curve(
        str(original), 1.0) == [[10.0, 10, 5.0], [20.0, 20, 10.0], [30.0, 30, 15.0]]
    # a run already there is never touched
    assert carried_runs.restore(str(parked), str(run), data) is None


def test_parking_refuses_a_training_run_and_drops_a_finished_ones_copy(tmp_path):
    data = _rooms(tmp_path / 'data')
    out, dest = tmp_path / 'out', tmp_path / 'unfinished'
    run = out / 'curves-x8' / '3dseg-t' / 'seed1'
    _stopped_run(run)
    carried_runs.park(str(out), 'curves-x8', data, str(dest))
    state = json.load(open(run / 'curve_state.json'))
    (run / 'curve_state.json').write_text(json.dumps(dict(state, running_since=1.0)))
    before = (dest / 'curves-x8' / '3dseg-t' / 'seed1' / 'manifest.json').read_bytes()
    with pytest.raises(RuntimeError, match='curve_state.json: the run is training'):
        carried_runs.park(str(out), 'curves-x8', data, str(dest))
    # the copy parked before is kept whole
    assert (dest / 'curves-x8' / '3dseg-t' / 'seed1' / 'manifest.json').read_bytes() == before
    (run / 'record_curve.json').write_text('{}')
    assert carried_runs.park(str(out), 'curves-x8', data, str(dest)) == {
        '3dseg-t/seed1': 'finished: its parked copy removed'}
    assert not (dest / 'curves-x8' / '3dseg-t' / 'seed1').exists()


def _parked(tmp_path):
    data = _rooms(tmp_path / 'data')
    _stopped_run(tmp_path / 'out' / 'curves-x8' / 'unet3d' / 'seed0')
    carried_runs.park(str(tmp_path / 'out'), 'curves-x8', data, str(tmp_path / 'u'))
    return tmp_path / 'u' / 'curves-x8' / 'unet3d' / 'seed0', data


def test_an_altered_parked_file_is_refused_and_nothing_is_restored(tmp_path):
    parked, data = _parked(tmp_path)
    with open(parked / 'iter_34.pth', 'ab') as f:
        f.write(b'\0')
    run = tmp_path / 'new' / 'seed0'
    with pytest.raises(ValueError, match=r'manifest.json: files: iter_34.pth .*SHA-256'):
        carried_runs.restore(str(parked), str(run), data)
    assert not run.exists()


def test_a_manifest_naming_a_path_outside_is_refused(tmp_path):
    parked, data = _parked(tmp_path)
    manifest = json.load(open(parked / 'manifest.json'))
    manifest['files']['../../../outside.pth'] = manifest['files']['iter_34.pth']
    (parked / 'manifest.json').write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"manifest.json: files: '\.\./\.\./\.\./outside.pth'"):
        carried_runs.restore(str(parked), str(tmp_path / 'new'), data)
    (parked / 'manifest.json').write_text('[1, 2]')
    with pytest.raises(ValueError, match="manifest.json: not a parked run's manifest"):
        carried_runs.restore(str(parked), str(tmp_path / 'new'), data)


def test_a_run_parked_on_other_rooms_is_refused(tmp_path):
    parked, _ = _parked(tmp_path)
    other = _rooms(tmp_path / 'other', value=2.0)
    with pytest.raises(ValueError, match=r'manifest.json: rooms: the run trained on other'):
        carried_runs.restore(str(parked), str(tmp_path / 'new'), other)


def test_rooms_digest_reads_the_arrays_not_the_zip_timestamps(tmp_path):
    data = _rooms(tmp_path / 'a')
    again = _rooms(tmp_path / 'b')
    room = tmp_path / 'b' / 'room_000.npz'
    with zipfile.ZipFile(room) as src:
        entries = [(info.filename, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(room, 'w') as dst:
        for name, payload in entries:
            dst.writestr(zipfile.ZipInfo(name, date_time=(1999, 1, 1, 0, 0, 0)), payload)
    assert room.read_bytes() != (tmp_path / 'a' / 'room_000.npz').read_bytes()
    assert carried_runs.rooms_digest(data) == carried_runs.rooms_digest(again)
    assert carried_runs.rooms_digest(data) != carried_runs.rooms_digest(
        _rooms(tmp_path / 'c', value=1.5))


def test_the_curves_stage_goes_on_from_a_parked_run_and_reuses_a_recorded_one(tmp_path,
                                                                             monkeypatch):
    """A new machine: the parked seed resumes ('--resume' from its restored checkpoint); a
    seed finished elsewhere (its record in the results, same options) is not trained again."""
    monkeypatch.setattr(baseline_study, 'best_recipe', lambda model: ['recipe=1'])
    monkeypatch.setattr(baseline_study, 'RESULTS', str(tmp_path / 'baselines.json'))
    data = _rooms(tmp_path / 'data')
    options = learning_curves.curve_options('unet3d', data, 0, scale=8)
    _stopped_run(tmp_path / 'old' / 'curves-x8' / 'unet3d' / 'seed0', options,
                 baseline_study.MODELS['unet3d']['config'])
    carried_runs.park(str(tmp_path / 'old'), 'curves-x8', data, str(tmp_path / 'unfinished'))
    calls = []

    def training(cmd, log, quiet=False):
        calls.append(cmd)
        raise KeyboardInterrupt  # the session ends again

    monkeypatch.setattr(learning_curves.experiments, 'run', training)
    out = tmp_path / 'new'
    with pytest.raises(KeyboardInterrupt):
        learning_curves.train_curve('unet3d', 0, data, str(out), scale=8,
                                    parked=str(tmp_path / 'unfinished'))
    assert '--resume' in calls[-1]
    assert (out / 'curves-x8' / 'unet3d' / 'seed0' / 'iter_34.pth').exists()

    iters = baseline_study.curve_iters('unet3d', 8)
    record = dict(options=learning_curves.curve_options('unet3d', data, 1, scale=8),
                  mIoU=70.0, surface_mIoU=50.0, best_iter=iters,
                  curve=[[k * 1.0, iters // 8 * k, 60.0] for k in range(1, 9)])
    with baseline_study.updating_results() as results:
        results['curves-x8'] = {'unet3d': {'1': record}}
    kept = learning_curves.train_curve('unet3d', 1, data, str(out), scale=8,
                                      parked=str(tmp_path / 'unfinished'))
    assert kept['mIoU'] == 70.0 and len(calls) == 1
    assert not osp.exists(out / 'curves-x8' / 'unet3d' / 'seed1')


def _rewrite(parked, **fields):
    manifest = json.load(open(parked / 'manifest.json'))
    manifest.update(fields)
    (parked / 'manifest.json').write_text(json.dumps(manifest))
    return manifest


def _nothing_restored(run):
    return not run.exists() and not osp.exists(f'{run}.restoring')


def _refused(parked, data, tmp_path, match):
    """Restoring ``parked`` fails with a ValueError matching ``match`` and writes nothing."""
    run = tmp_path / 'new' / 'seed0'
    with pytest.raises(ValueError, match=match):
        carried_runs.restore(str(parked), str(run), data)
    assert _nothing_restored(run)


@pytest.mark.parametrize('change, field', [
    (dict(files={'iter_34.pth': 34}), 'files'),
    (dict(iteration='34'), 'iteration'),
    (dict(iteration=True), 'iteration'),
    (dict(iteration=float('inf')), 'iteration'),
    (dict(iteration=20), 'iteration'),
    (dict(iteration=10**40), 'iteration'),
    (dict(last_checkpoint='best_mIoU_iter_30.pth'), 'last_checkpoint'),
    (dict(last_checkpoint='curve_state.json'), 'last_checkpoint'),
    (dict(last_checkpoint=['iter_34.pth']), 'last_checkpoint'),
    (dict(rooms=5), 'rooms'),
    (dict(files=[]), 'files'),
])
def test_a_manifest_of_wrong_types_or_values_is_refused_before_anything_is_written(
        tmp_path, change, field):
    parked, data = _parked(tmp_path)
    manifest = json.load(open(parked / 'manifest.json'))
    if change.get('files') == {'iter_34.pth': 34}:
        change = dict(files=dict(manifest['files'], **change['files']))
    _rewrite(parked, **change)
    run = tmp_path / 'new' / 'seed0'
    with pytest.raises(ValueError, match=rf'manifest.json: {field}'):
        carried_runs.restore(str(parked), str(run), data)
    assert _nothing_restored(run)


def test_a_name_with_a_trailing_newline_or_two_resume_checkpoints_is_refused(tmp_path):
    parked, data = _parked(tmp_path)
    manifest = json.load(open(parked / 'manifest.json'))
    files = dict(manifest['files'])
    files['iter_34.pth\n'] = files.pop('iter_34.pth')
    os.rename(parked / 'iter_34.pth', parked / 'iter_34.pth\n')
    _rewrite(parked, files=files, last_checkpoint='iter_34.pth\n')
    run = tmp_path / 'new' / 'seed0'
    with pytest.raises(ValueError, match=r"manifest.json: files: 'iter_34.pth\\n'"):
        carried_runs.restore(str(parked), str(run), data)
    os.rename(parked / 'iter_34.pth\n', parked / 'iter_34.pth')
    _checkpoint(parked / 'iter_20.pth', 20)
    _rewrite(parked, last_checkpoint='iter_34.pth', files=dict(
        manifest['files'], **{'iter_20.pth': carried_runs._sha256(parked / 'iter_20.pth')}))
    with pytest.raises(ValueError, match=r'manifest.json: files: .*iter_20.pth.*iter_34.pth'):
        carried_runs.restore(str(parked), str(run), data)
    assert _nothing_restored(run)


def test_a_checkpoint_of_another_iteration_than_its_name_is_refused(tmp_path):
    parked, data = _parked(tmp_path)
    _checkpoint(parked / 'iter_34.pth', 20)
    manifest = json.load(open(parked / 'manifest.json'))
    _rewrite(parked, files=dict(manifest['files'],
                                **{'iter_34.pth': carried_runs._sha256(parked / 'iter_34.pth')}))
    _refused(parked, data, tmp_path, r"iter_34.pth: .*'meta'\['iter'\] is 20")


def test_links_in_a_parked_run_are_refused(tmp_path):
    """A link committed in a parked run would lead the restore to read outside it."""
    parked, data = _parked(tmp_path)
    outside = tmp_path / 'outside.pth'
    os.rename(parked / 'iter_34.pth', outside)
    os.symlink(outside, parked / 'iter_34.pth')  # same bytes, same digest
    _refused(parked, data, tmp_path, r'manifest.json: files: iter_34.pth .*not a plain file')
    # the whole folder a link to one elsewhere
    os.remove(parked / 'iter_34.pth')
    os.rename(outside, parked / 'iter_34.pth')
    elsewhere = tmp_path / 'elsewhere'
    os.rename(parked, elsewhere)
    os.symlink(elsewhere, parked)
    _refused(parked, data, tmp_path, r'seed0: a link')


def test_a_file_the_manifest_does_not_name_is_refused(tmp_path):
    parked, data = _parked(tmp_path)
    (parked / '20261206_210000.scalars.json').write_text('{"step": 40, "mIoU": 1.0}\n')
    _refused(parked, data, tmp_path, r'manifest.json: files: .*20261206_210000')


def test_a_run_dir_with_a_trailing_slash_is_restored_beside_not_inside(tmp_path):
    parked, data = _parked(tmp_path)
    run = tmp_path / 'new' / 'seed0'
    assert carried_runs.restore(str(parked), f'{run}{os.sep}', data) == 34
    assert sorted(os.listdir(run))[-3:] == ['curve_state.json', 'iter_34.pth',
                                            'last_checkpoint']
    assert (run / 'last_checkpoint').read_text() == str(run / 'iter_34.pth')


def test_the_digest_of_missing_rooms_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nowhere: no rooms'):
        carried_runs.rooms_digest(str(tmp_path / 'nowhere'))
    os.makedirs(tmp_path / 'empty')
    with pytest.raises(FileNotFoundError, match=r'empty: no rooms'):
        carried_runs.rooms_digest(str(tmp_path / 'empty'))


def test_parking_a_run_whose_last_checkpoint_is_gone_keeps_the_older_copy(tmp_path):
    parked, data = _parked(tmp_path)
    before = (parked / 'manifest.json').read_bytes()
    run = tmp_path / 'out' / 'curves-x8' / 'unet3d' / 'seed0'
    os.remove(run / 'iter_34.pth')
    with pytest.raises(FileNotFoundError, match=r'seed0/last_checkpoint: names .*iter_34.pth'):
        carried_runs.park(str(tmp_path / 'out'), 'curves-x8', data, str(tmp_path / 'u'))
    assert (parked / 'manifest.json').read_bytes() == before
    assert os.listdir(parked.parent) == ['seed0']


def test_a_park_stopped_while_replacing_the_older_copy_keeps_it(tmp_path, monkeypatch):
    parked, data = _parked(tmp_path)
    before = (parked / 'manifest.json').read_bytes()
    rename = os.rename

    def stopped(src, dst):
        if str(src).endswith('.parking'):
            raise KeyboardInterrupt
        rename(src, dst)

    monkeypatch.setattr(carried_runs.os, 'rename', stopped)
    with pytest.raises(KeyboardInterrupt):
        carried_runs.park(str(tmp_path / 'out'), 'curves-x8', data, str(tmp_path / 'u'))
    assert (parked / 'manifest.json').read_bytes() == before
    monkeypatch.setattr(carried_runs.os, 'rename', rename)
    carried_runs.park(str(tmp_path / 'out'), 'curves-x8', data, str(tmp_path / 'u'))
    assert os.listdir(parked.parent) == ['seed0']


def test_parking_skips_runs_set_aside_and_links_in_the_destination(tmp_path):
    data = _rooms(tmp_path / 'data')
    out, dest = tmp_path / 'out', tmp_path / 'u'
    _stopped_run(out / 'curves-x8' / 'unet3d' / 'seed0')
    _stopped_run(out / 'curves-x8' / 'unet3d' / 'seed0.replaced-20261206_100000')
    assert carried_runs.park(str(out), 'curves-x8', data, str(dest)) == {
        'unet3d/seed0': 'parked at iteration 34'}
    assert os.listdir(dest / 'curves-x8' / 'unet3d') == ['seed0']
    # a link committed in place of a folder of the destination leads elsewhere
    elsewhere = tmp_path / 'elsewhere'
    os.makedirs(elsewhere / 'unet3d' / 'seed0')
    (elsewhere / 'unet3d' / 'seed0' / 'keep.txt').write_text('mine')
    shutil.rmtree(dest / 'curves-x8')
    os.symlink(elsewhere, dest / 'curves-x8')
    with pytest.raises(ValueError, match=r'curves-x8: a link'):
        carried_runs.park(str(out), 'curves-x8', data, str(dest))
    (out / 'curves-x8' / 'unet3d' / 'seed0' / 'record_curve.json').write_text('{}')
    with pytest.raises(ValueError, match=r'curves-x8: a link'):
        carried_runs.park(str(out), 'curves-x8', data, str(dest))
    assert (elsewhere / 'unet3d' / 'seed0' / 'keep.txt').read_text() == 'mine'


@pytest.mark.parametrize('kept, field', [
    ([1, 2], 'curves-x8.unet3d.1'),
    (dict(curve='x'), 'curves-x8.unet3d.1.curve'),
    (dict(curve=[[1.0, 'a', 2.0]]), 'curves-x8.unet3d.1.curve'),
    (dict(mIoU='70'), 'curves-x8.unet3d.1.mIoU'),
    (dict(best_iter=None), 'curves-x8.unet3d.1.best_iter'),
    (dict(curve=[[1.0, 10, 60.0]]), 'curves-x8.unet3d.1.curve'),
])
def test_a_malformed_record_in_the_results_is_refused_by_name(tmp_path, monkeypatch, kept,
                                                               field):
    monkeypatch.setattr(baseline_study, 'best_recipe', lambda model: ['recipe=1'])
    monkeypatch.setattr(baseline_study, 'RESULTS', str(tmp_path / 'baselines.json'))
    data = _rooms(tmp_path / 'data')
    iters = baseline_study.curve_iters('unet3d', 8)
    record = dict(options=learning_curves.curve_options('unet3d', data, 1, scale=8),
                  mIoU=70.0, surface_mIoU=50.0, best_iter=iters,
                  curve=[[k * 1.0, iters // 8 * k, 60.0] for k in range(1, 9)])
    record = dict(record, **kept) if isinstance(kept, dict) else kept
    with baseline_study.updating_results() as results:
        results['curves-x8'] = {'unet3d': {'1': record}}
    with pytest.raises(ValueError, match=rf'baselines.json: {field}\b'):
        learning_curves.train_curve('unet3d', 1, data, str(tmp_path / 'new'), scale=8,
                                    parked=str(tmp_path / 'unfinished'))
