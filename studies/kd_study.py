# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The KD term's temperature and scale, chosen on VALIDATION rooms.

    python studies/kd_study.py --tables work_dirs/paper_tables --out work_dirs/kd_study \\
        --teacher-config CONFIG --teacher-checkpoint CKPT --settings scarce --seeds 0

Fine-tunes the block-trained students of ``paper_tables.py`` (its ``--out``, given as
``--tables``) exactly as its distillation rows do, each row from its own config (``ROWS``: the
distillation config, the oracle config or one of ``configs/distill/ablations/``, which say what
they change), and scores them on the validation rooms (the test rooms stay for the table of
record). The
``control`` row is the no-KD fine-tuning of the same students (``control-labelled``: on the
label-scarce setting's labelled rooms alone, every step with a loss). ``tau20`` is the official term
(``kl * tau^2 / K``); the lower temperatures keep more of the teacher's class ranking and drop
the ``1 / K`` (the per-pixel KL averaged over hits, the scale of the cross entropy). The
``-sure90`` rows keep only the hits where the teacher is at least 90% sure; the ``-balanced``
rows weigh every class the teacher predicts equally. Settings: ``labelled`` (every room has
3D labels), ``scarce`` (3D labels for ``--labelled-rooms``, KD alone on the others) and
``multiview`` (labelled, the hits of 8 panoramas a room; its control is the labelled one). The
``oracle`` rows distil the label panoramas instead of a teacher (``AnnotationOracleDistiller``):
what a teacher right at every pixel it sees adds at this budget (``-smooth40``: with 40% of
the probability spread evenly over the classes); ``-band`` rows
compare the student with each pixel at 5 points along its ray through the TSDF truncation band
(``PanoDistiller(ray_offsets)``), where the labels carry the surface's class; ``-voxel``
rows splat the teacher onto the voxels its hits read and fit each voxel on its own
(``PanoDistiller(kd_space='voxel')``); ``+pano2d`` rows (labelled setting) add
``--pano2d-rooms`` rooms of ``--pano2d`` without 3D labels, where the KD term alone trains
(the teacher has their panoramas, the control has nothing to learn from them). Writes
``OUT/kd_study.md`` and ``OUT/kd_study.json`` (``{setting: {row: [mIoU per seed]}}``; with
``--report-test``, ``{"validation": that, "test": {metric: that}}``: the same checkpoints on
the test rooms, reported, never chosen on); a finished run is reused.
"""
import argparse
import json
import os
import os.path as osp
import sys

# the repository (studies/ is not installed with the package)
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from studies import experiments  # noqa: E402
from studies.distillation_rows import (  # noqa: E402
    DISTILL,
    DISTILL_CONFIGS,
    RECIPES,
    TEACHER,
    TILES_DISTILL,
    distillation_plan,
)
from studies.experiments import ROOT, data_options, mean_std, pano2d_options  # noqa: E402

# row -> its config (None: the no-KD control of the setting, the paper-table run it is); each
# ablation config says what its row measures and overrides only that
ABLATIONS = 'configs/distill/ablations'
KD = 'segmenter-vit-t_3dseg-t_1xb1-120_synthrooms'
ORACLE = 'configs/distill/panokd_oracle_3dseg-t_1xb1-120_synthrooms.py'
ROWS = {
    'control': None,
    # label-scarce only: the no-KD fine-tuning on the labelled rooms alone (every step has
    # labels), where ``control`` also steps through the panorama-only rooms, without a loss
    'control-labelled': None,
    'tau20': DISTILL,
    'tau4': f'{ABLATIONS}/panokd_logits-tau4_{KD}.py',
    'tau1': f'{ABLATIONS}/panokd_logits-tau1_{KD}.py',
    'tau20-sure90': f'{ABLATIONS}/panokd_logits-tau20-sure90_{KD}.py',
    'tau1-sure90': f'{ABLATIONS}/panokd_logits-tau1-sure90_{KD}.py',
    'tau1-balanced': f'{ABLATIONS}/panokd_logits-tau1-balanced_{KD}.py',
    'tau1-sure90-balanced': f'{ABLATIONS}/panokd_logits-tau1-sure90-balanced_{KD}.py',
    'tau1-voxel': f'{ABLATIONS}/panokd_logits-tau1-voxel_{KD}.py',
    'oracle': ORACLE,
    'oracle-band': f'{ABLATIONS}/panokd_oracle-band_3dseg-t_1xb1-120_synthrooms.py',
    'oracle-smooth40': f'{ABLATIONS}/panokd_oracle-smooth40_3dseg-t_1xb1-120_synthrooms.py',
    'oracle-voxel': f'{ABLATIONS}/panokd_oracle-voxel_3dseg-t_1xb1-120_synthrooms.py',
    # labelled only: the KD term also on panorama-only rooms of --pano2d
    'tau1+pano2d': f'{ABLATIONS}/panokd_logits-tau1_{KD}+pano2d.py',
    'tau1-voxel+pano2d': f'{ABLATIONS}/panokd_logits-tau1-voxel_{KD}+pano2d.py',
}
# --losses tiles32: the rows whose config exists with the student's losses on 32^3 tiles of
# each room (its training block size; the setting of the tables of record), controls alike
# (the control configs of distillation_rows.RECIPES['tiles32-tau1']).
TILES_ROWS = {
    'control': None,
    'control-labelled': None,
    'tau1': TILES_DISTILL,
    'tau1-voxel': f'{ABLATIONS}/panokd_logits-tau1-voxel_{KD}-tiles32.py',
    'oracle-voxel': f'{ABLATIONS}/panokd_oracle-voxel_3dseg-t_1xb1-120_synthrooms-tiles32.py',
    'tau1-voxel+pano2d': f'{ABLATIONS}/panokd_logits-tau1-voxel_{KD}+pano2d-tiles32.py',
}
LOSSES = {'whole': (ROWS, DISTILL_CONFIGS), 'tiles32': (TILES_ROWS, RECIPES['tiles32-tau1'])}
# The multiview setting: what the 8-view distillation config
# (panokd_logits_..._synthrooms-8views.py) adds to the single-view one, added to any row's
# config so the study does not need a second file per row (a test checks the two agree).
MULTIVIEW = ['train_dataloader.dataset.num_views=8',
             'train_dataloader.dataset.data_prefix.camera_path=cameras']
# rows that run without a trained teacher
NO_TEACHER = ('control', 'control-labelled', 'oracle', 'oracle-band', 'oracle-smooth40',
              'oracle-voxel')
SETTINGS = {  # setting -> (its no-KD control, its distilled run) in paper_tables.py
    'labelled': ('3dseg-t+room', '3dseg-t+distill'),
    'scarce': ('3dseg-t+room-scarce', '3dseg-t+distill-scarce'),
    'multiview': ('3dseg-t+room', '3dseg-t+distill-multiview'),  # 8 panoramas a room
}


def run_name(seed: int, setting: str, row: str) -> str:
    """A row's run directory; settings that share a control share its run (multiview's
    control is the labelled one)."""
    if ROWS[row] is None:
        setting = next(s for s, runs in SETTINGS.items() if runs[0] == SETTINGS[setting][0])
    return f'seed{seed}_{setting}_{row}'


def student_checkpoint(tables: str, seed: int, name: str) -> str:
    record = osp.join(tables, f'seed{seed}', name, 'record_test.json')
    if not osp.isfile(record):
        raise FileNotFoundError(f'{record}: run paper_tables.py --students for seed {seed} '
                                f'first (its --out is this script\'s --tables)')
    return json.load(open(record))['checkpoint']


def run_options(args, seed: int, setting: str, row: str):
    """The config and ``--cfg-options`` of one row: the row's config (the control's: the
    paper-table control of the setting) with the per-run options of the paper-table run it
    varies (data root, seed, the teacher, the labelled rooms of the scarce setting), the
    student it starts from and ``--options``."""
    run = SETTINGS[setting][0 if ROWS[row] is None else 1]
    plan = {name: (options, base) for name, options, *base in
            distillation_plan(args, seed, args.teacher_checkpoint)}
    options, base = plan[run]
    rows, controls = LOSSES[args.losses]
    if row not in rows:
        raise ValueError(f'kd_study: row {row} has no config with --losses {args.losses}; '
                         f'the rows that have one: {", ".join(rows)}')
    config = rows[row] or controls[run]
    if row == 'control-labelled':
        if setting != 'scarce':
            raise ValueError(f'kd_study: row control-labelled is a control of the scarce '
                             f'setting only, not of {setting}')
        options = options + [f'train_dataloader.dataset.indices={args.labelled_rooms}']
    if setting == 'multiview' and ROWS[row] is not None:
        options = options + MULTIVIEW
    if row.endswith('+pano2d'):
        if setting != 'labelled':
            raise ValueError(f'kd_study: row {row} is a row of the labelled setting only, not '
                             f'of {setting}')
        # its training set is a concatenation: two roots, and how many panorama-only rooms
        plain = data_options(args.data)
        options = pano2d_options(args.data, args.pano2d) + [o for o in options
                                                            if o not in plain]
        options.append(f'train_dataloader.dataset.datasets.1.indices={args.pano2d_rooms}')
    ckpt = student_checkpoint(args.tables, seed, base[0])
    return config, options + list(args.options) + [f'load_from={ckpt}']


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--tables', default='work_dirs/paper_tables',
                   help="paper_tables.py --out: the block-trained students")
    p.add_argument('--out', default='work_dirs/kd_study')
    p.add_argument('--data', default=experiments.STUDY_DATA)
    p.add_argument('--seeds', type=int, nargs='+', default=[0])
    p.add_argument('--settings', nargs='+', choices=list(SETTINGS), default=list(SETTINGS))
    p.add_argument('--rows', nargs='+', choices=list(ROWS),
                   default=['control', 'tau20', 'tau4', 'tau1'])
    p.add_argument('--pano2d', default=experiments.STUDY_PANO2D,
                   help="panorama-only rooms of the +pano2d rows (the teacher's -pano2d set)")
    p.add_argument('--pano2d-rooms', type=int, default=48,
                   help='how many of them the +pano2d rows add')
    p.add_argument('--iters', type=int, default=800,
                   help="the students' block-training iterations (paper_tables.py --iters)")
    p.add_argument('--losses', choices=list(LOSSES), default='whole',
                   help="how the students' losses see a room: one whole-room forward (every "
                   'row), or 32^3 tiles (the rows of TILES_ROWS)')
    experiments.add_distillation_arguments(p, TEACHER)
    experiments.add_options_argument(p, 'every row (control included)')
    p.add_argument('--teacher-checkpoint',
                   help=f"the teacher's weights; rows {', '.join(NO_TEACHER)} run without one")
    p.add_argument('--report-test', action='store_true',
                   help='also test every run on the test rooms (reported as a second table, '
                   'never used to choose a row)')
    args = p.parse_args(argv)
    experiments.exit_on_sigterm()
    if set(args.rows) - set(LOSSES[args.losses][0]):
        p.error(f'rows {sorted(set(args.rows) - set(LOSSES[args.losses][0]))} have no config '
                f'with --losses {args.losses}')
    if args.teacher_checkpoint is None and set(args.rows) - set(NO_TEACHER):
        p.error(f'--teacher-checkpoint is needed by rows '
                f'{sorted(set(args.rows) - set(NO_TEACHER))}')
    os.chdir(ROOT)
    os.makedirs(args.out, exist_ok=True)
    results, test = {}, {}
    for setting in args.settings:
        for row in args.rows:
            for seed in args.seeds:
                config, options = run_options(args, seed, setting, row)
                name = run_name(seed, setting, row)
                record = experiments.train_and_test(
                    osp.join(args.out, name), config, options, osp.join(args.out, name),
                    split='validation', keys=('mIoU', 'surface_mIoU'))
                miou = record['metrics']['mIoU']
                results.setdefault(setting, {}).setdefault(row, []).append(miou)
                print(f'  {name:<24} validation mIoU {miou:.2f}', flush=True)
    if args.report_test:  # the runs chosen from above, reported on the test rooms
        for setting in args.settings:
            for row in args.rows:
                for seed in args.seeds:
                    name = run_name(seed, setting, row)
                    metrics = experiments.test_finished(osp.join(args.out, name),
                                                        osp.join(args.out, name),
                                                        'test')['metrics']
                    for key in ('mIoU', 'surface_mIoU'):
                        test.setdefault(key, {}).setdefault(setting, {}).setdefault(
                            row, []).append(metrics[key])
        results = dict(validation=results, test=test)
    lines = [f'## KD study on the validation rooms of {args.data} (seeds '
             f'{", ".join(map(str, args.seeds))})', '',
             f'Teacher: `{args.teacher_config}`, `{args.teacher_checkpoint}`; student losses: '
             f'{args.losses}; options of every row: `{" ".join(args.options) or "none"}`.',
             '']
    lines += table(args, results.get('validation', results))
    for key, scores in test.items():
        lines += ['', f'Test rooms, {key.replace("_", " ")} (reported only):', '']
        lines += table(args, scores)
    print('\n' + experiments.write_report(args.out, 'kd_study', results, lines))
    return 0


def table(args, scores) -> list:
    """A markdown table: a line per setting, a column per row (mean ± std over the seeds)."""
    lines = ['| setting | ' + ' | '.join(args.rows) + ' |', '|---' * (len(args.rows) + 1) + '|']
    return lines + [f'| {setting} | ' + ' | '.join(mean_std(scores[setting][row])
                                                   for row in args.rows) + ' |'
                    for setting in args.settings]


if __name__ == '__main__':
    sys.exit(main())
