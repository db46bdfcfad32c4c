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

Each row is a config file (``SCHEDULED``: ``configs/*/*_1xb2-800_synthrooms-32.py`` for
``--iters 800``, the ``-3k`` configs for 3000); other ``--iters`` and the equal-wall-clock U-Net
run the ``-3k`` config with its decay stretched to the run's end.

Writes ``OUT/results.json`` (``{run: {"mIoU": [one per seed], "surface_mIoU": [...],
"train_seconds": [...], "iters": [...], "params": N, "inference_seconds": s}}``, copied to
``benchmarks/paper_tables.json``), ``OUT/paper_tables.md`` (mean +- std) and
``OUT/paper_tables_loss.png``. A finished run is reused when the script is run again.
"""
import argparse
import json
import os
import os.path as osp
import platform
import shutil
import sys
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config

from segmenter3d.apis import init_segmentor
from segmenter3d.datasets import load_room, room_to_input

# the repository (studies/ is not installed with the package)
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from studies import experiments, scarcity  # noqa: E402
from studies.experiments import (  # noqa: E402
    ROOT,
    data_options,
    ensure_rooms,
    mean_std,
    python_tool,
    schedule_options,
    time_inference,
)
from studies.panorama_metric import rendered_panorama_miou  # noqa: E402

CONFIGS = {
    '3dseg-t': 'configs/3dseg/3dseg-t_1xb2-3k_synthrooms-32.py',
    '3dseg-b': 'configs/3dseg/3dseg-b_1xb2-3k_synthrooms-32.py',
    'unet3d-equal-iters': 'configs/unet3d/unet3d_1xb2-3k_synthrooms-32.py',
    'unet3d': 'configs/unet3d/unet3d_1xb2-3k_synthrooms-32.py',
    '3dseg-t-noskip': 'configs/3dseg/3dseg-t-noskip_1xb2-3k_synthrooms-32.py',
}
ORDER = list(CONFIGS)
# The rows at the iterations they are run with, each a config (its schedule's decay ends at the
# run's end); other --iters run the 3k config with the decay stretched to them. The
# equal-wall-clock ``unet3d`` is never here: its iterations are measured, not chosen, so it
# keeps its schedule as options.
SCHEDULED = {
    800: {
        '3dseg-t': 'configs/3dseg/3dseg-t_1xb2-800_synthrooms-32.py',
        '3dseg-b': 'configs/3dseg/3dseg-b_1xb2-800_synthrooms-32.py',
        'unet3d-equal-iters': 'configs/unet3d/unet3d_1xb2-800_synthrooms-32.py',
        '3dseg-t-noskip': 'configs/3dseg/3dseg-t-noskip_1xb2-800_synthrooms-32.py',
    },
    3000: {name: config for name, config in CONFIGS.items() if name != 'unet3d'},
}
# The distillation experiments (--distill): room-level fine-tuning of the block-trained
# student with and without the teacher, with all 3D labels or a quarter of them.
ROOM = 'configs/3dseg/3dseg-t_1xb1-120_synthrooms-room.py'
DISTILL = 'configs/distill/panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py'
DISTILL_CONFIGS = {
    '3dseg-t+room': ROOM,  # the control: same rooms, iterations and schedule, no KD
    '3dseg-t+distill': DISTILL,
    '3dseg-t-scarce': CONFIGS['3dseg-t'],  # block training on the labelled quarter only
    '3dseg-t+room-scarce': ROOM,
    '3dseg-t+distill-scarce': DISTILL,
    '3dseg-t+distill-multiview': DISTILL.replace('.py', '-8views.py'),
}
TEACHER = 'configs/teacher/segmenter_vit-t_synthrooms.py'
VIEWS = 8
# equal wall-clock within this fraction of the iterations: the equal-iteration run is reused
SAME_RUN = 0.05
METRICS = ('mIoU', 'surface_mIoU', 'mAcc', 'aAcc')


def equal_time_iters(iters: int, budget_seconds: float, seconds_for_iters: float) -> int:
    """Iterations that take ``budget_seconds`` for a run that took ``seconds_for_iters`` to do
    ``iters`` (its seconds per iteration, startup included, as measured)."""
    return max(1, round(iters * budget_seconds / seconds_for_iters))


def run_config(name: str, iters: int) -> Tuple[str, list]:
    """The config of a block-training row at ``iters`` iterations and the schedule options
    it still needs (none when ``SCHEDULED`` has the row at those iterations)."""
    config = SCHEDULED.get(iters, {}).get(name)
    if config is not None:
        return config, []
    return CONFIGS[name], schedule_options(iters)


def train_and_test(args, name, seed, iters):
    """One run of one seed, trained (unless finished before) and tested on the test rooms."""
    config, schedule = run_config(name, iters)
    options = data_options(args.data) + [f'randomness.seed={seed}'] + schedule
    record = experiments.train_and_test(osp.join(args.out, f'seed{seed}', name), config,
                                        options, osp.join(args.out, f'seed{seed}_{name}'))
    record['iters'] = iters
    print(f'  seed {seed} {name:<20} {iters:>5} iters {record["train_seconds"]:7.0f} s  ' +
          '  '.join(f'{k} {v:.2f}' for k, v in record['metrics'].items()), flush=True)
    return record


def student_panorama_miou(args, run_dir, config, ckpt):
    """The test rooms' labels a run predicts, rendered into their panoramas (its mIoU there);
    the predictions are written once, by ``tools/test.py --out``."""
    out = osp.join(run_dir, 'test_pred')
    names = open(osp.join(args.data, 'splits', 'test.txt')).read().split()
    if not all(osp.isfile(osp.join(out, f'{n}_pred.npz')) for n in names):
        experiments.run(python_tool('tools/test.py', config, ckpt, '--work-dir',
                                    osp.join(run_dir, 'test_out'), '--out', out,
                                    '--cfg-options', *data_options(args.data)),
                        osp.join(run_dir, 'test_out.log'), quiet=True)
    return rendered_panorama_miou(out, args.data, 'test')['mIoU']


def view_coverage(args, views: int):
    """Mean share of the training rooms' surface voxels the teacher's rays reach, from the
    room's own view and from ``views`` views (rays at the distillation resolution)."""
    from mmengine.config import Config

    from segmenter3d.datasets import cameras_path, load_cameras
    from segmenter3d.rendering import HitProjector, TSDFRaycaster, surface_coverage
    size = Config.fromfile(osp.join(ROOT, DISTILL)).model.raycaster
    caster = TSDFRaycaster(size.height, size.width)
    one, many = [], []
    for name in open(osp.join(args.data, 'splits', 'training.txt')).read().split():
        tsdf = torch.from_numpy(load_room(osp.join(args.data, 'volumes', f'{name}.npz'),
                                          with_labels=False)['tsdf'])
        projectors = [HitProjector(caster.cast(tsdf, torch.from_numpy(c)), tsdf.shape)
                      for c in load_cameras(cameras_path(args.data, name), views)]
        one.append(surface_coverage(projectors[:1], tsdf))
        many.append(surface_coverage(projectors, tsdf))
    return 100 * float(np.mean(one)), 100 * float(np.mean(many))


def distillation_plan(args, seed, teacher_ckpt, kd_options=(), room_options=()):
    """``[(run, --cfg-options, the run it starts from (or none))]`` of one seed's
    label-scarce student, no-KD controls and distilled runs, in the order they can run
    (``kd_options``: more options of the KD term, e.g. its temperature; ``room_options``:
    more options of every room fine-tuning, controls and distilled runs alike)."""
    data = data_options(args.data) + [f'randomness.seed={seed}']
    # tested below, not validated meanwhile
    room = data + ['train_cfg.val_interval=100000', *room_options]
    kd = [f'model.teacher_checkpoint={teacher_ckpt}',
          f'model.teacher_config={args.teacher_config}', *kd_options]
    scarce = [f'train_dataloader.dataset.labelled_rooms={args.labelled_rooms}']
    plan = [('3dseg-t-scarce', data + schedule_options(args.iters) +
             [f'train_dataloader.dataset.indices={args.labelled_rooms}'])]
    for suffix, base in (('', '3dseg-t'), ('-scarce', '3dseg-t-scarce')):
        plan += [(f'3dseg-t+room{suffix}', room + (scarce if suffix else []), base),
                 (f'3dseg-t+distill{suffix}', room + kd + (scarce if suffix else []), base)]
    plan.append(('3dseg-t+distill-multiview', room + kd, '3dseg-t'))
    return plan


def distillation_runs(args, seed, student, teacher_ckpt, only=None):
    """The student, its no-KD control and its distilled runs, full and label-scarce, for one
    seed (``only``: just these runs of the plan): ``{run: record}`` with ``panorama_mIoU``
    added."""
    records = {'3dseg-t': dict(student)}
    if only is None:  # the student's row of the table
        records['3dseg-t']['panorama_mIoU'] = student_panorama_miou(
            args, osp.join(args.out, f'seed{seed}', '3dseg-t'), CONFIGS['3dseg-t'],
            student['checkpoint'])
    plan = distillation_plan(args, seed, teacher_ckpt, args.kd_options, args.room_options)
    for name, options, *base in plan:
        if only is not None and name not in only:
            continue
        if base:
            options = options + [f"load_from={records[base[0]]['checkpoint']}"]
        run_dir = osp.join(args.out, f'seed{seed}', name)
        record = experiments.train_and_test(
            run_dir, DISTILL_CONFIGS[name], options, osp.join(args.out, f'seed{seed}_{name}'),
            test_args=['--out', osp.join(run_dir, 'test_pred')])
        record['panorama_mIoU'] = rendered_panorama_miou(osp.join(run_dir, 'test_pred'),
                                                         args.data, 'test')['mIoU']
        record['iters'] = args.iters if name == '3dseg-t-scarce' else Config.fromfile(
            osp.join(ROOT, DISTILL_CONFIGS[name])).train_cfg.max_iters
        if name.endswith('-scarce'):
            record['labelled_rooms'] = args.labelled_rooms
        records[name] = record
        print(f'  seed {seed} {name:<26} ' + '  '.join(
            f'{k} {v:.2f}' for k, v in record['metrics'].items() if k in METRICS[:2]) +
            f"  panorama_mIoU {record['panorama_mIoU']:.2f}", flush=True)
    return records


def distillation_table(results):
    lines = ['', '### Distillation (room-level fine-tuning of the block-trained student)', '',
             '| run | voxel mIoU | surface mIoU | panorama mIoU | teacher surface coverage % |',
             '|---|---|---|---|---|']
    for name in ['3dseg-t'] + list(DISTILL_CONFIGS) + ['teacher']:
        r = results.get(name)
        if r is None:
            continue
        cover = r.get('surface_coverage')
        lines.append(f'| {name} | ' + ' | '.join(mean_std(r[k]) if r.get(k) else '—'
                                                 for k in ('mIoU', 'surface_mIoU',
                                                           'panorama_mIoU')) +
                     f" | {'—' if cover is None else f'{cover:.1f}'} |")
    counts = sorted({r['labelled_rooms'] for r in results.values() if 'labelled_rooms' in r})
    if counts:
        lines += ['', f"Label-scarce rows: {', '.join(map(str, counts))} labelled rooms."]
    return lines


def tables(args, results, n_rooms):
    lines = [f'## Paper tables on {args.data} ({n_rooms} test rooms, seeds '
             f'{" ".join(map(str, args.seeds))}; mean ± std over seeds)', '',
             f'Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch '
             f'{torch.__version__}. Command: `python studies/paper_tables.py --data '
             f'{args.data} --out {args.out} --seeds {" ".join(map(str, args.seeds))}`.', '',
             '| run | mIoU | surface mIoU | mAcc | aAcc | iterations | train s | params | '
             'inference s (test rooms) |', '|---' * 9 + '|']
    for name in ORDER:
        if name not in results:
            continue
        r = results[name]
        lines.append(
            f'| {name} | ' + ' | '.join(mean_std(r[k]) for k in METRICS) +
            f" | {mean_std(r['iters']).split('.')[0]} | {mean_std(r['train_seconds'])} | "
            f"{r.get('params', 0):,} | {r.get('inference_seconds', float('nan')):.2f} |")
    partial = [n for n, r in results.items() if n in ORDER and len(r['mIoU']) < len(args.seeds)]
    if partial:
        lines.append(f"\n{', '.join(f'`{n}`' for n in partial)}: first seed only (time).")
    shared = {n: r['shared_with_seeds'] for n, r in results.items() if 'shared_with_seeds' in r}
    for name, seeds in shared.items():
        lines.append(f'\n`{name}`: for seeds {seeds} the equal-wall-clock budget came within '
                     f'{SAME_RUN:.0%} of the equal-iteration one, so that run is reported.')
    if 'teacher' in results:
        lines += distillation_table(results)
    return '\n'.join(lines) + '\n'


def loss_curves(args, names, path):
    """Training loss of seed ``args.seeds[0]`` per run, from mmengine's scalars."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in names:
        root = osp.join(args.out, f'seed{args.seeds[0]}', name)
        scalars = sorted(osp.join(root, d, 'vis_data', 'scalars.json') for d in os.listdir(root)
                         if osp.isfile(osp.join(root, d, 'vis_data', 'scalars.json')))
        if not scalars:
            continue
        steps, losses = [], []
        for line in open(scalars[-1]):
            rec = json.loads(line)
            if 'loss' in rec and 'step' in rec:
                steps.append(rec['step'])
                losses.append(rec['loss'])
        ax.plot(steps, losses, label=name)
    ax.set_xlabel('iteration')
    ax.set_ylabel('training loss')
    ax.set_yscale('log')
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default='data/study', help='generated rooms (made if absent)')
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
    experiments.add_distillation_arguments(p, TEACHER, '--room-options',
                                           'every room fine-tuning (controls too)',
                                           labelled_rooms=None)
    p.add_argument('--choose-scarcity', action='store_true',
                   help='only choose the labelled-room count of the label-scarce runs on the '
                   'validation rooms (3dseg-t at --iters, seed 0; with --record kept in '
                   'benchmarks/paper_tables.json)')
    p.add_argument('--candidates', type=int, nargs='+', default=list(scarcity.CANDIDATES),
                   help='with --choose-scarcity: the labelled-room counts to try')
    p.add_argument('--margin', type=float, default=scarcity.MARGIN,
                   help='with --choose-scarcity: validation mIoU below the all-rooms student '
                   'by more than this is data-bound')
    p.add_argument('--kd-options', nargs='+', default=[],
                   help='more --cfg-options of the distilled runs, e.g. '
                   'model.distill_loss.tau=4.0 (chosen by kd_study.py on validation rooms)')
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
    return p.parse_args(argv)


def prepare_teacher(args) -> Tuple[str, dict]:
    """The panorama teacher of the distillation runs (rendering the extra views first):
    tested when ``--teacher-checkpoint`` names one, else trained; its checkpoint and result."""
    experiments.run(python_tool('tools/data/render_views.py', '--data', args.data,
                                '--views', str(VIEWS)),
                    osp.join(args.out, 'render_views.log'))
    if args.teacher_checkpoint:
        experiments.run(python_tool('tools/test.py', args.teacher_config,
                                    args.teacher_checkpoint, '--work-dir',
                                    osp.join(args.out, 'teacher', 'test'), '--cfg-options',
                                    f'test_dataloader.dataset.data_root={args.data}'),
                        osp.join(args.out, 'teacher_test.log'))
        teacher = dict(checkpoint=args.teacher_checkpoint, metrics=experiments.last_metrics(
            osp.join(args.out, 'teacher', 'test')))
    else:
        teacher = experiments.train_and_test(
            osp.join(args.out, 'teacher'), args.teacher_config, data_options(args.data) + (
                schedule_options(args.teacher_iters) if args.teacher_iters else []),
            osp.join(args.out, 'teacher'), keys=('mIoU', 'mAcc', 'aAcc'))
    print(f"  teacher panorama mIoU {teacher['metrics']['mIoU']:.2f}", flush=True)
    return teacher['checkpoint'], dict(panorama_mIoU=[teacher['metrics']['mIoU']])


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
            if abs(iters - args.iters) <= SAME_RUN * args.iters:
                # the same budget within SAME_RUN: that run is this one (said in the table)
                records[name] = dict(unet, shared_with='unet3d-equal-iters')
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
        if 'labelled_rooms' in rec:
            r['labelled_rooms'] = rec['labelled_rooms']
        if 'panorama_mIoU' in rec:
            r.setdefault('panorama_mIoU', []).append(rec['panorama_mIoU'])


def add_complexity(args, results: dict, volumes: list) -> None:
    """Parameters and (unless ``--repeats 0``) inference seconds of each block-trained run's
    first-seed checkpoint over the test rooms."""
    first = osp.join(args.out, f'seed{args.seeds[0]}')
    for name in [n for n in ORDER if n in results]:
        run_dir = name if osp.isdir(osp.join(first, name)) else 'unet3d-equal-iters'
        ckpt = json.load(open(osp.join(first, run_dir, 'record_test.json')))['checkpoint']
        if args.repeats > 0:
            params, seconds = time_inference(CONFIGS[name], ckpt, volumes, args.repeats)
            results[name].update(params=params, inference_seconds=round(seconds, 3))
        else:  # timing skipped: parameters only
            model = init_segmentor(CONFIGS[name])
            results[name].update(params=sum(p.numel() for p in model.parameters()))


def scan_summary(data: str, frames: int) -> dict:
    """The generator's summary of scanned rooms (``scans.json``: unobserved shares, render and
    fusion seconds), with the frames a room."""
    path = osp.join(data, 'scans.json')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: not found; the rooms of {data} are not scanned rooms')
    return dict(json.load(open(path))['summary'], frames=frames)


def record_runs(results: dict, path: str) -> None:
    """``results``' runs into the record at ``path``, replacing runs of the same name and
    keeping the others (the baseline comparison adds its runs to the same table of record)."""
    with experiments.updating_json(path) as record:
        record.update(results)


def record_path(name: str = 'paper_tables') -> str:
    """The record ``benchmarks/<name>.json`` (``paper_tables``: the table of record)."""
    return osp.join(ROOT, 'benchmarks', f'{name}.json')


def write_outputs(args, results: dict, num_rooms: int) -> str:
    """``results.json``, the markdown tables and the loss curves (copied to benchmarks/ with
    ``--record``: ``paper_tables.json``, or ``paper_tables_scan.json`` with the scan summary
    for scanned rooms); returns the tables."""
    if args.scan_frames:
        results['scans'] = scan_summary(args.data, args.scan_frames)
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    text = tables(args, results, num_rooms)
    with open(osp.join(args.out, 'paper_tables.md'), 'w') as f:
        f.write(text)
    loss_curves(args, [n for n in ORDER if n in results],
                osp.join(args.out, 'paper_tables_loss.png'))
    if args.record:
        name = 'paper_tables_scan' if args.scan_frames else 'paper_tables'
        record_runs(results, record_path(name))
        # the recorded plot shows every model: a run of some of them (e.g. --distill --only
        # 3dseg-t, whose runs join the same record) leaves it as it is
        if args.scan_frames or set(ORDER) <= set(results):
            shutil.copyfile(osp.join(args.out, 'paper_tables_loss.png'),
                            osp.splitext(record_path(name))[0] + '_loss.png')
    return text


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    if (args.distill or args.students) and not args.choose_scarcity:
        try:  # before anything runs
            args.labelled_rooms = scarcity.labelled_rooms(args.labelled_rooms, record_path(),
                                                          args.data, args.iters)
        except ValueError as e:
            sys.exit(f'error: {e}')
    os.makedirs(args.out, exist_ok=True)
    scan = (['--scan-frames', str(args.scan_frames), '--depth-noise', str(args.depth_noise)]
            if args.scan_frames else [])
    names = ensure_rooms(args.data, args.num_rooms, args.out, generator_args=scan)
    if args.choose_scarcity:
        try:  # 3dseg-t's block training at --iters
            scarcity.stage(args, *run_config('3dseg-t', args.iters),
                           record_path() if args.record else None)
        except ValueError as e:
            sys.exit(f'error: {e}')
        return 0
    if args.students:
        for seed in args.seeds:
            student = {} if args.scarce_only else train_and_test(args, '3dseg-t', seed,
                                                                  args.iters)
            distillation_runs(args, seed, student, None, only=('3dseg-t-scarce', ))
        print(f'written: {args.out}/seed<N>/' +
              ('3dseg-t-scarce' if args.scarce_only else '3dseg-t and 3dseg-t-scarce'))
        return 0
    results, teacher_ckpt = {}, None
    if args.distill:
        teacher_ckpt, results['teacher'] = prepare_teacher(args)
    for seed in args.seeds:
        collect(results, seed, seed_runs(args, seed, teacher_ckpt))
    if args.distill:
        one, many = view_coverage(args, VIEWS)
        for name in ('3dseg-t+distill', '3dseg-t+distill-scarce', '3dseg-t+distill-multiview'):
            results[name]['surface_coverage'] = many if name.endswith('multiview') else one
    volumes = [room_to_input(load_room(osp.join(args.data, 'volumes', f'{n}.npz')))
               for n in names]
    add_complexity(args, results, volumes)
    text = write_outputs(args, results, len(volumes))
    print('\n' + text)
    print(f'written: {args.out}/results.json, paper_tables.md, paper_tables_loss.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
