# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The paper's tables on generated rooms, at CPU scale, over several seeds.

    python studies/paper_tables.py --out work_dirs/paper_tables --seeds 0 1 2

Generates its own rooms when ``--data`` holds none (96 rooms at 8 cm: 48 train, 24
validation, 24 test; the rooms of studies/recipe_study.py, which chose the recipe on
the validation rooms), then per seed trains and tests on the test rooms:

* ``3dseg-t``, ``3dseg-b``: block training with the embedded-default recipe;
* ``unet3d-equal-iters``: the 3D U-Net with the same iterations;
* ``unet3d``: the 3D U-Net for the same training wall-clock as ``3dseg-t`` of that seed
  (its iterations scaled by the measured seconds per iteration, the schedule with them);
* ``3dseg-t-noskip``: the decoder without its skip connection.

``--choose-scarcity`` chooses the labelled-room count of the label-scarce distillation runs
on the validation rooms (studies/scarcity.py); ``--distill`` then reads it from
``benchmarks/paper_tables.json`` unless ``--labelled-rooms`` names one.

Each row is a config file (studies/block_rows.py ``SCHEDULED``:
``configs/*/*_1xb2-800_synthrooms-32.py`` for ``--iters 800``, the ``-3k`` configs for 3000);
other ``--iters`` and the equal-wall-clock U-Net run the ``-3k`` config with its decay stretched
to the run's end. The distillation rows are in studies/distillation_rows.py, what is written
in studies/paper_outputs.py.

Writes ``OUT/results.json`` (``{run: {"mIoU": [one per seed], "surface_mIoU": [...],
"train_seconds": [...], "iters": [...], "params": N, "inference_seconds": s}}``, copied to
``benchmarks/paper_tables.json``), ``OUT/paper_tables.md`` (mean +- std) and
``OUT/paper_tables_loss.png``. A finished run is reused when the script is run again.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

from segmenter3d.datasets import load_room, room_to_input

# the repository (studies/ is not installed with the package)
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from studies import experiments, paper_outputs, scarcity  # noqa: E402
from studies.block_rows import (  # noqa: E402
    METRICS,
    ORDER,
    SAME_RUN,
    add_complexity,
    equal_time_iters,
    run_config,
    train_and_test,
)
from studies.distillation_rows import (  # noqa: E402
    RECIPES,
    TEACHER,
    VIEWS,
    distillation_runs,
    prepare_teacher,
    view_coverage,
)
from studies.experiments import ROOT, ensure_rooms  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default=experiments.STUDY_DATA,
                   help='generated rooms (made if absent)')
    p.add_argument('--num-rooms', type=int, default=96, help='rooms to generate when absent')
    p.add_argument('--out', default='work_dirs/paper_tables')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--only', nargs='+', choices=ORDER, default=ORDER)
    p.add_argument('--first-seed-only', nargs='*', choices=ORDER, default=[],
                   help='runs made for the first seed only (said in the table)')
    p.add_argument('--iters', type=int, default=3000, help='block-training iterations')
    p.add_argument('--repeats', type=int, default=3,
                   help='timing repeats (median); 0 skips the inference timing')
    p.add_argument('--distill', action='store_true',
                   help='also the distillation runs (teacher, controls, label-scarce, views)')
    p.add_argument('--teacher-iters', type=int, default=None,
                   help="the teacher's iterations (default: its config's)")
    p.add_argument('--teacher-checkpoint', default=None,
                   help='a teacher trained before (e.g. by teacher_study.py): tested, not '
                   'trained')
    experiments.add_distillation_arguments(p, TEACHER, labelled_rooms=None)
    p.add_argument('--choose-scarcity', action='store_true',
                   help='only choose the labelled-room count of the label-scarce runs on the '
                   'validation rooms (3dseg-t at --iters, seed 0; with --record kept in '
                   'benchmarks/paper_tables.json)')
    p.add_argument('--candidates', type=int, nargs='+', default=list(scarcity.CANDIDATES),
                   help='with --choose-scarcity: the labelled-room counts to try')
    p.add_argument('--margin', type=float, default=scarcity.MARGIN,
                   help='with --choose-scarcity: validation mIoU below the all-rooms student '
                   'by more than this is data-bound')
    p.add_argument('--recipe', default='official', choices=list(RECIPES),
                   help="the distillation runs' configs (distillation_rows.RECIPES): the "
                   "paper's KD term, or the one the KD study chose (tiles32-tau1)")
    p.add_argument('--students', action='store_true',
                   help='only the block-trained students the distillation runs start from '
                   '(3dseg-t, 3dseg-t-scarce); no teacher: what kd_study.py --tables needs')
    p.add_argument('--scarce-only', action='store_true',
                   help='with --students: the label-scarce student alone (another '
                   '--labelled-rooms)')
    p.add_argument('--scan-frames', type=int, default=0,
                   help='generate scanned rooms: N RGB-D frames per room fused into its volume '
                   '(partial observation, as the paper builds its rooms); use another --data')
    p.add_argument('--depth-noise', type=float, default=0.0,
                   help='with --scan-frames: Gaussian depth noise (metres) of the frames')
    p.add_argument('--record', action='store_true',
                   help='copy results.json to benchmarks/paper_tables.json')
    experiments.add_options_argument(
        p, 'every run (block-trained rows, students, teacher, room fine-tunings and their tests)')
    args = p.parse_args(argv)
    if args.record and args.options:
        p.error('--record keeps the table of record, whose runs are the configs as they are: '
                'not with --options')
    return args


def seed_runs(args, seed: int, teacher_ckpt: Optional[str]) -> Dict[str, dict]:
    """Every run of one seed (the U-Net at 3DSeg-T's wall-clock reuses the equal-iteration
    run when the budgets agree within ``SAME_RUN``)."""
    records = {}
    for name in [n for n in ORDER if n in args.only]:
        if name in args.first_seed_only and seed != args.seeds[0]:
            continue
        iters = args.iters
        if name == 'unet3d':  # the wall-clock of 3dseg-t at the U-Net's measured speed
            base = records.get('3dseg-t') or train_and_test(args, '3dseg-t', seed, args.iters)
            unet = records.get('unet3d-equal-iters') or train_and_test(
                args, 'unet3d-equal-iters', seed, args.iters)
            iters = equal_time_iters(args.iters, base['train_seconds'], unet['train_seconds'])
            # the budget kept beside the run: the seconds of the 3dseg-t run under the same
            # --out (a later 3dseg-t run on a faster or slower day does not change it)
            budget = dict(budget_seconds=base['train_seconds'])
            if abs(iters - args.iters) <= SAME_RUN * args.iters:
                # the same budget within SAME_RUN: that run is this one (said in the table)
                records[name] = dict(unet, shared_with='unet3d-equal-iters', **budget)
                continue
            records[name] = dict(train_and_test(args, name, seed, iters), **budget)
            continue
        records[name] = train_and_test(args, name, seed, iters)
    if args.distill:
        student = records.get('3dseg-t') or train_and_test(args, '3dseg-t', seed, args.iters)
        records.update(distillation_runs(args, seed, student, teacher_ckpt))
    return records


def collect(results: dict, seed: int, records: Dict[str, dict]) -> None:
    """Append one seed's records to the per-run lists of ``results``."""
    for name, rec in records.items():
        r = results.setdefault(name, {k: [] for k in METRICS + ('train_seconds', 'iters')})
        if 'shared_with' in rec:
            r.setdefault('shared_with_seeds', []).append(seed)
        for k in METRICS:
            r[k].append(rec['metrics'].get(k, float('nan')))
        r['train_seconds'].append(rec['train_seconds'])
        r['iters'].append(rec['iters'])
        # the seed of each position, so tables pair runs by seed, not by list order
        r.setdefault('seeds', []).append(seed)
        if 'labelled_rooms' in rec:
            r['labelled_rooms'] = rec['labelled_rooms']
        if 'config' in rec:  # the file a reader opens to see what each seed's run ran
            r.setdefault('config', []).append(rec['config'])
        if 'budget_seconds' in rec:  # the equal-wall-clock U-Net's
            r.setdefault('budget_seconds', []).append(rec['budget_seconds'])
        if 'panorama_mIoU' in rec:
            r.setdefault('panorama_mIoU', []).append(rec['panorama_mIoU'])


def resolve_labelled_rooms(args) -> None:
    """``args.labelled_rooms``: the count ``--labelled-rooms`` names, else the one chosen on the
    validation rooms (the table of record's), checked before anything runs."""
    try:
        args.labelled_rooms = scarcity.labelled_rooms(
            args.labelled_rooms, paper_outputs.record_path(), args.data, args.iters)
    except ValueError as e:
        sys.exit(f'error: {e}')


def study_rooms(args) -> List[str]:
    """The test rooms' names, the rooms (scanned ones with ``--scan-frames``) generated first
    when ``--data`` holds none."""
    scan = (['--scan-frames', str(args.scan_frames), '--depth-noise', str(args.depth_noise)]
            if args.scan_frames else [])
    return ensure_rooms(args.data, args.num_rooms, args.out, generator_args=scan)


def choose_scarcity(args) -> int:
    """``--choose-scarcity``: the labelled-room count, chosen with 3DSeg-T's block training at
    ``--iters``."""
    try:
        config, schedule = run_config('3dseg-t', args.iters)
        scarcity.stage(args, config, schedule + list(args.options),
                       paper_outputs.record_path() if args.record else None)
    except ValueError as e:
        sys.exit(f'error: {e}')
    return 0


def train_students(args) -> int:
    """``--students``: each seed's block-trained students (3dseg-t unless ``--scarce-only``,
    and 3dseg-t-scarce), the runs the distillation rows start from."""
    for seed in args.seeds:
        student = {} if args.scarce_only else train_and_test(args, '3dseg-t', seed, args.iters)
        distillation_runs(args, seed, student, None, only=('3dseg-t-scarce', ))
    print(f'written: {args.out}/seed<N>/' +
          ('3dseg-t-scarce' if args.scarce_only else '3dseg-t and 3dseg-t-scarce'))
    return 0


def table_runs(args) -> dict:
    """Every seed's runs, collected per run; with ``--distill`` the teacher first and the
    teacher's surface coverage of the distilled rows."""
    results, teacher_ckpt = {}, None
    if args.distill:
        teacher_ckpt, results['teacher'] = prepare_teacher(args)
    for seed in args.seeds:
        collect(results, seed, seed_runs(args, seed, teacher_ckpt))
    if args.distill:
        one, many = view_coverage(args, VIEWS)
        for name in ('3dseg-t+distill', '3dseg-t+distill-scarce', '3dseg-t+distill-multiview'):
            results[name]['surface_coverage'] = many if name.endswith('multiview') else one
    return results


def main(argv=None):
    args = parse_args(argv)
    experiments.exit_on_sigterm()
    os.chdir(ROOT)
    if (args.distill or args.students) and not args.choose_scarcity:
        resolve_labelled_rooms(args)
    os.makedirs(args.out, exist_ok=True)
    names = study_rooms(args)
    if args.choose_scarcity:
        return choose_scarcity(args)
    if args.students:
        return train_students(args)
    results = table_runs(args)
    volumes = [room_to_input(load_room(osp.join(args.data, 'volumes', f'{n}.npz')))
               for n in names]
    add_complexity(args, results, volumes)
    text = paper_outputs.write_outputs(args, results, len(volumes))
    print('\n' + text)
    print(f'written: {args.out}/results.json, paper_tables.md, paper_tables_loss.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
