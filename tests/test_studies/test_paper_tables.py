"""studies/paper_tables.py: the driver's stages (here ``--students``) run the runs they say."""
import os.path as osp

from studies import distillation_rows, paper_tables


def test_students_trains_the_two_students_of_each_seed_and_no_teacher(monkeypatch, tmp_path):
    runs = []

    def fake_run(run_dir, config, options, log, **kwargs):
        runs.append(osp.relpath(run_dir, tmp_path))
        return dict(checkpoint=f'{run_dir}.pth', metrics=dict(mIoU=1.0), train_seconds=1.0)

    monkeypatch.setattr(paper_tables, 'ensure_rooms', lambda *a, **k: ['r'])
    monkeypatch.setattr(paper_tables.experiments, 'train_and_test', fake_run)
    monkeypatch.setattr(paper_tables.experiments, 'run', lambda *a: runs.append('tool run'))
    monkeypatch.setattr(distillation_rows, 'student_panorama_miou', lambda *a: 1.0)
    monkeypatch.setattr(distillation_rows, 'rendered_panorama_miou', lambda *a: dict(mIoU=1.0))
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


def test_scanned_rooms_are_asked_of_the_generator_only_with_scan_frames(monkeypatch):
    seen = []
    monkeypatch.setattr(paper_tables, 'ensure_rooms',
                        lambda data, n, out, generator_args: seen.append(generator_args) or ['r'])
    assert paper_tables.study_rooms(paper_tables.parse_args(['--scan-frames', '4',
                                                             '--depth-noise', '0.01'])) == ['r']
    paper_tables.study_rooms(paper_tables.parse_args([]))
    assert seen == [['--scan-frames', '4', '--depth-noise', '0.01'], []]


def test_collected_runs_name_the_config_they_ran():
    results = {}
    for seed in (0, 1):
        paper_tables.collect(results, seed, {'3dseg-t+room': dict(
            metrics=dict(mIoU=40.0 + seed), train_seconds=2.0, iters=120,
            config=f'configs/x{seed}.py')})
    assert results['3dseg-t+room']['config'] == ['configs/x0.py', 'configs/x1.py']
    assert results['3dseg-t+room']['mIoU'] == [40.0, 41.0]
