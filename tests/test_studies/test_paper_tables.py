"""studies/paper_tables.py: equal-time budgets, schedules and the tables it writes."""
import argparse
import json
import os.path as osp

from conftest import ROOT
from studies import paper_tables


def test_every_run_has_a_config():
    configs = list(paper_tables.CONFIGS.values()) + [
        c for row in paper_tables.SCHEDULED.values() for c in row.values()]
    assert all(osp.isfile(osp.join(ROOT, c)) for c in configs)
    assert paper_tables.ORDER.index('3dseg-t') < paper_tables.ORDER.index('unet3d')


def test_equal_wall_clock_scales_iterations_by_measured_speed():
    # the U-Net took 600 s for 3000 iterations; 3DSeg-T took 150 s: a quarter of the steps
    assert paper_tables.equal_time_iters(3000, 150.0, 600.0) == 750
    assert paper_tables.equal_time_iters(3000, 600.0, 600.0) == 3000
    assert paper_tables.equal_time_iters(10, 0.01, 100.0) == 1


def test_tables_give_mean_and_std_over_seeds():
    args = argparse.Namespace(data='data/x', out='o', seeds=[0, 1, 2])
    results = {'3dseg-t': dict(mIoU=[40.0, 42.0, 44.0], surface_mIoU=[30.0, 30.0, 30.0],
                               mAcc=[1.0, 1.0, 1.0], aAcc=[2.0, 2.0, 2.0],
                               iters=[3000, 3000, 3000], train_seconds=[100.0, 110.0, 120.0],
                               params=375036, inference_seconds=1.5)}
    text = paper_tables.tables(args, results, 24)
    assert '24 test rooms, seeds 0 1 2' in text
    assert ('| 3dseg-t | 42.00 ± 2.00 | 30.00 ± 0.00 | 1.00 ± 0.00 | 2.00 ± 0.00 | 3000 | '
            '110.00 ± 10.00 | 375,036 | 1.50 |') in text
    assert paper_tables.mean_std([5.0]) == '5.00' and paper_tables.mean_std([]) == '-'


def test_distillation_configs_exist_and_the_table_marks_what_does_not_apply():
    assert all(osp.isfile(osp.join(ROOT, c)) for c in paper_tables.DISTILL_CONFIGS.values())
    assert osp.isfile(osp.join(ROOT, paper_tables.TEACHER))
    results = {'3dseg-t': dict(mIoU=[40.0, 42.0], surface_mIoU=[30.0, 32.0],
                               panorama_mIoU=[50.0, 52.0]),
               '3dseg-t+distill-multiview': dict(mIoU=[41.0, 41.0], surface_mIoU=[31.0, 31.0],
                                                 panorama_mIoU=[51.0, 53.0],
                                                 surface_coverage=71.25),
               'teacher': dict(panorama_mIoU=[33.5])}
    lines = paper_tables.distillation_table(results)
    assert '| 3dseg-t | 41.00 ± 1.41 | 31.00 ± 1.41 | 51.00 ± 1.41 | — |' in lines
    assert '| 3dseg-t+distill-multiview | 41.00 ± 0.00 | 31.00 ± 0.00 | 52.00 ± 1.41 | 71.2 |' \
        in lines
    assert '| teacher | — | — | 33.50 | — |' in lines
    assert not any(line.startswith('Label-scarce') for line in lines)
    results['3dseg-t-scarce'] = dict(mIoU=[30.0], surface_mIoU=[28.0], panorama_mIoU=[29.0],
                                     labelled_rooms=3)
    assert paper_tables.distillation_table(results)[-1] == 'Label-scarce rows: 3 labelled rooms.'


def test_room_options_reach_every_room_fine_tuning_and_kd_options_only_the_distilled():
    args = argparse.Namespace(data='rooms', labelled_rooms=12, iters=800,
                              teacher_config=paper_tables.TEACHER)
    plan = paper_tables.distillation_plan(args, 1, 't.pth', ['model.distill_loss.tau=4.0'],
                                          ['model.train_cfg.mode=tiles'])
    names = [name for name, *_ in plan]
    assert names == ['3dseg-t-scarce', '3dseg-t+room', '3dseg-t+distill', '3dseg-t+room-scarce',
                     '3dseg-t+distill-scarce', '3dseg-t+distill-multiview']
    for name, options, *base in plan:
        assert 'randomness.seed=1' in options
        block = name == '3dseg-t-scarce'  # block training: no room option, no start
        assert ('model.train_cfg.mode=tiles' in options) is not block, name
        assert ('model.distill_loss.tau=4.0' in options) is ('distill' in name), name
        assert base == ([] if block else ['3dseg-t-scarce' if 'scarce' in name else '3dseg-t'])
        # the control and its distilled run differ only in the KD term
        if '+distill' in name and 'multiview' not in name:
            control = dict((n, o) for n, o, *_ in plan)[name.replace('distill', 'room')]
            assert set(options) - set(control) == {
                'model.teacher_checkpoint=t.pth', 'model.distill_loss.tau=4.0',
                f'model.teacher_config={paper_tables.TEACHER}'}


def test_students_trains_the_two_students_of_each_seed_and_no_teacher(monkeypatch, tmp_path):
    runs = []

    def fake_run(run_dir, config, options, log, **kwargs):
        runs.append(osp.relpath(run_dir, tmp_path))
        return dict(checkpoint=f'{run_dir}.pth', metrics=dict(mIoU=1.0), train_seconds=1.0)

    monkeypatch.setattr(paper_tables, 'ensure_rooms', lambda *a, **k: ['r'])
    monkeypatch.setattr(paper_tables.experiments, 'train_and_test', fake_run)
    monkeypatch.setattr(paper_tables.experiments, 'run', lambda *a: runs.append('tool run'))
    monkeypatch.setattr(paper_tables, 'student_panorama_miou', lambda *a: 1.0)
    monkeypatch.setattr(paper_tables, 'rendered_panorama_miou', lambda *a: dict(mIoU=1.0))
    # the label-scarce student's rooms named here (else: the count chosen on validation)
    assert paper_tables.main(['--out', str(tmp_path), '--seeds', '0', '1', '--students',
                              '--labelled-rooms', '12']) == 0
    assert runs == ['seed0/3dseg-t', 'seed0/3dseg-t-scarce', 'seed1/3dseg-t',
                    'seed1/3dseg-t-scarce']
    # --scarce-only: the label-scarce student alone, on its own labelled rooms
    runs.clear()
    seen = []
    monkeypatch.setattr(paper_tables.experiments, 'train_and_test',
                        lambda run_dir, config, options, log, **kw: seen.append(options) or
                        fake_run(run_dir, config, options, log))
    assert paper_tables.main(['--out', str(tmp_path), '--seeds', '2', '--students',
                              '--scarce-only', '--labelled-rooms', '3']) == 0
    assert runs == ['seed2/3dseg-t-scarce']
    assert 'train_dataloader.dataset.indices=3' in seen[0]


def test_recording_keeps_the_runs_other_studies_added(tmp_path):
    path = str(tmp_path / 'paper_tables.json')
    with open(path, 'w') as f:
        json.dump({'3dseg-t': dict(mIoU=[1.0]), 'sparse-unet': dict(mIoU=[2.0])}, f)
    paper_tables.record_runs({'3dseg-t': dict(mIoU=[3.0]), 'unet3d': dict(mIoU=[4.0])}, path)
    assert json.load(open(path)) == {'3dseg-t': dict(mIoU=[3.0]), 'sparse-unet': dict(mIoU=[2.0]),
                                     'unet3d': dict(mIoU=[4.0])}
