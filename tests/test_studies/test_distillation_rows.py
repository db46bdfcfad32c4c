"""studies/distillation_rows.py: the rows' configs, their plan and their table."""
import argparse
import os.path as osp

from conftest import ROOT
from studies import distillation_rows


def test_distillation_configs_exist_and_the_table_marks_what_does_not_apply():
    assert all(osp.isfile(osp.join(ROOT, c)) for c in distillation_rows.DISTILL_CONFIGS.values())
    assert osp.isfile(osp.join(ROOT, distillation_rows.TEACHER))
    results = {'3dseg-t': dict(mIoU=[40.0, 42.0], surface_mIoU=[30.0, 32.0],
                               panorama_mIoU=[50.0, 52.0]),
               '3dseg-t+distill-multiview': dict(mIoU=[41.0, 41.0], surface_mIoU=[31.0, 31.0],
                                                 panorama_mIoU=[51.0, 53.0],
                                                 surface_coverage=71.25),
               'teacher': dict(panorama_mIoU=[33.5])}
    lines = distillation_rows.distillation_table(results)
    assert '| 3dseg-t | 41.00 ± 1.41 | 31.00 ± 1.41 | 51.00 ± 1.41 | — |' in lines
    assert '| 3dseg-t+distill-multiview | 41.00 ± 0.00 | 31.00 ± 0.00 | 52.00 ± 1.41 | 71.2 |' \
        in lines
    assert '| teacher | — | — | 33.50 | — |' in lines
    assert not any(line.startswith('Label-scarce') for line in lines)
    results['3dseg-t-scarce'] = dict(mIoU=[30.0], surface_mIoU=[28.0], panorama_mIoU=[29.0],
                                     labelled_rooms=3)
    assert distillation_rows.distillation_table(results)[-1] == \
        'Label-scarce rows: 3 labelled rooms.'


def test_the_plan_gives_each_run_its_inputs_and_the_options_to_every_run():
    args = argparse.Namespace(data='rooms', labelled_rooms=12, iters=800,
                              teacher_config=distillation_rows.TEACHER)
    plan = distillation_rows.distillation_plan(args, 1, 't.pth', ['train_cfg.max_iters=2'])
    names = [name for name, *_ in plan]
    assert names == ['3dseg-t-scarce', '3dseg-t+room', '3dseg-t+distill', '3dseg-t+room-scarce',
                     '3dseg-t+distill-scarce', '3dseg-t+distill-multiview']
    runs = {n: o for n, o, *_ in plan}
    for name, options, *base in plan:
        assert 'randomness.seed=1' in options and options[-1] == 'train_cfg.max_iters=2', name
        block = name == '3dseg-t-scarce'  # block training: the labelled rooms, no start
        assert ('train_dataloader.dataset.indices=12' in options) is block, name
        assert ('train_dataloader.dataset.labelled_rooms=12' in options) is (
            'scarce' in name and not block), name
        assert ('model.teacher_checkpoint=t.pth' in options) is ('distill' in name), name
        assert base == ([] if block else ['3dseg-t-scarce' if 'scarce' in name else '3dseg-t'])
        # the control and its distilled run differ only in the teacher
        if '+distill' in name and 'multiview' not in name:
            control = runs[name.replace('distill', 'room')]
            assert set(options) - set(control) == {
                'model.teacher_checkpoint=t.pth',
                f'model.teacher_config={distillation_rows.TEACHER}'}


def test_the_tiles32_tau1_recipe_is_the_official_configs_with_the_options_it_was_run_with():
    """The recipe of the tables of record ran as the official configs plus these option
    strings (``--room-options`` on every room fine-tuning, ``--kd-options`` on the distilled
    runs); its files merge to exactly that."""
    from mmengine.config import Config

    from conftest import config_with_options
    room = ['model.train_cfg.mode=tiles', 'model.train_cfg.crop_size=32']
    kd = ['model.distill_loss.tau=1.0', 'model.distill_loss.class_mean=False']
    official, tiles = (distillation_rows.RECIPES[r] for r in ('official', 'tiles32-tau1'))
    assert set(official) == set(tiles) == set(distillation_rows.DISTILL_CONFIGS)
    for run, config in tiles.items():
        extra = [] if run == '3dseg-t-scarce' else room + (kd if 'distill' in run else [])
        new = Config.fromfile(osp.join(ROOT, config)).to_dict()
        old = (config_with_options(official[run], extra) if extra else
               Config.fromfile(osp.join(ROOT, official[run]))).to_dict()
        assert new == old, run
        if extra:  # and it is another run than the official one
            assert new['model'] != Config.fromfile(osp.join(ROOT, official[run])).model


def test_distillation_runs_train_the_configs_of_the_recipe_and_record_them(tmp_path,
                                                                          monkeypatch):
    trained = {}

    def fake_run(run_dir, config, options, log, **kwargs):
        trained[osp.basename(run_dir)] = config
        return dict(checkpoint=f'{run_dir}.pth', metrics=dict(mIoU=1.0), train_seconds=1.0,
                    config=config)

    monkeypatch.setattr(distillation_rows.experiments, 'train_and_test', fake_run)
    monkeypatch.setattr(distillation_rows, 'rendered_panorama_miou', lambda *a: dict(mIoU=1.0))
    for recipe in ('official', 'tiles32-tau1'):
        args = argparse.Namespace(data='rooms', labelled_rooms=3, iters=800, out=str(tmp_path),
                                  teacher_config=distillation_rows.TEACHER, recipe=recipe,
                                  options=[])
        student = dict(checkpoint='s.pth', metrics=dict(mIoU=1.0), train_seconds=1.0)
        records = distillation_rows.distillation_runs(args, 0, student, 't.pth', only=set(
            distillation_rows.DISTILL_CONFIGS) - {'3dseg-t'})
        assert trained == distillation_rows.RECIPES[recipe]
        assert all(records[n]['config'] == c for n, c in trained.items())
        assert records['3dseg-t+distill']['iters'] == 120


def test_student_predictions_are_made_again_for_a_checkpoint_newer_than_them(tmp_path,
                                                                             monkeypatch):
    """A student trained again in its work dir (other ``--options``, other ``--iters``) gets
    its panorama score from its own predictions, not from those the earlier run left there."""
    import os

    data, run_dir = tmp_path / 'rooms', tmp_path / 'run'
    (data / 'splits').mkdir(parents=True)
    (data / 'splits' / 'test.txt').write_text('room_a\nroom_b\n')
    (run_dir / 'test_pred').mkdir(parents=True)
    ckpt = run_dir / 'iter_2.pth'
    ckpt.write_bytes(b'old')
    tests = []

    def fake_test(cmd, log, **kwargs):  # tools/test.py --out: one prediction file a room
        tests.append(cmd)
        for name in ('room_a', 'room_b'):
            (run_dir / 'test_pred' / f'{name}_pred.npz').write_bytes(b'x')

    monkeypatch.setattr(distillation_rows.experiments, 'run', fake_test)
    monkeypatch.setattr(distillation_rows, 'rendered_panorama_miou',
                        lambda out, data, split: dict(mIoU=float(len(tests))))
    args = argparse.Namespace(data=str(data), options=['x=1'])
    score = distillation_rows.student_panorama_miou(args, str(run_dir), 'c.py', str(ckpt))
    assert score == 1.0 and tests[0][-1] == 'x=1'  # --options reach the test too
    # the same checkpoint: the predictions are reused
    assert distillation_rows.student_panorama_miou(args, str(run_dir), 'c.py', str(ckpt)) == 1.0
    # the run made again: its checkpoint is newer than the predictions (one of them suffices)
    made = os.stat(ckpt).st_mtime
    os.utime(run_dir / 'test_pred' / 'room_b_pred.npz', (made - 10, made - 10))
    assert distillation_rows.student_panorama_miou(args, str(run_dir), 'c.py', str(ckpt)) == 2.0
    assert distillation_rows.student_panorama_miou(args, str(run_dir), 'c.py', str(ckpt)) == 2.0
