# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The distillation rows of the paper tables (studies/paper_tables.py ``--distill``, and the
students of ``--students``): room-level fine-tuning of the block-trained student with and
without the panorama teacher, with all 3D labels or only the labelled rooms, from one view a
room or from ``VIEWS``; the teacher, the runs' panorama mIoU, the teacher's coverage and the
table of these rows.
"""
import os.path as osp
from typing import Tuple

import numpy as np
import torch
from mmengine.config import Config

from segmenter3d.datasets import load_room
from studies import experiments
from studies.block_rows import CONFIGS, METRICS
from studies.experiments import ROOT, data_options, mean_std, python_tool, schedule_options
from studies.panorama_metric import rendered_panorama_miou

ROOM = 'configs/3dseg/3dseg-t_1xb1-120_synthrooms-room.py'
DISTILL = 'configs/distill/panokd_logits_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms.py'
DISTILL_CONFIGS = {
    '3dseg-t+room': ROOM,  # the control: same rooms, iterations and schedule, no KD
    '3dseg-t+distill': DISTILL,
    '3dseg-t-scarce': CONFIGS['3dseg-t'],  # block training on the labelled rooms only
    '3dseg-t+room-scarce': ROOM,
    '3dseg-t+distill-scarce': DISTILL,
    '3dseg-t+distill-multiview': DISTILL.replace('.py', '-8views.py'),
}
# The recipes of --recipe: each run's config. ``official`` is the paper's KD term (tau 20,
# divided by K) with whole-room student losses; ``tiles32-tau1`` is what the KD study chose on
# the validation rooms (temperature 1 without the 1 / K, the student's losses on 32^3 tiles,
# controls alike), the recipe of the tables of record.
TILES_ROOM = 'configs/3dseg/3dseg-t_1xb1-120_synthrooms-room-tiles32.py'
TILES_DISTILL = ('configs/distill/'
                 'panokd_logits-tau1_segmenter-vit-t_3dseg-t_1xb1-120_synthrooms-tiles32.py')
RECIPES = {
    'official': DISTILL_CONFIGS,
    'tiles32-tau1': {
        '3dseg-t+room': TILES_ROOM,
        '3dseg-t+distill': TILES_DISTILL,
        '3dseg-t-scarce': CONFIGS['3dseg-t'],
        '3dseg-t+room-scarce': TILES_ROOM,
        '3dseg-t+distill-scarce': TILES_DISTILL,
        '3dseg-t+distill-multiview': TILES_DISTILL.replace('.py', '-8views.py'),
    },
}
TEACHER = 'configs/teacher/segmenter_vit-t_synthrooms.py'
VIEWS = experiments.VIEWS


def student_panorama_miou(args, run_dir, config, ckpt):
    """The test rooms' labels a run predicts, rendered into their panoramas (its mIoU there);
    the predictions are written by ``tools/test.py --out`` and written again when ``ckpt`` is
    newer than any of them (the run was made again, e.g. with other ``--options``, in the same
    work dir, which ``tools/train.py --overwrite`` does not empty)."""
    out = osp.join(run_dir, 'test_pred')
    names = open(osp.join(args.data, 'splits', 'test.txt')).read().split()
    made = osp.getmtime(ckpt) if osp.isfile(ckpt) else 0.0

    def current(name: str) -> bool:
        path = osp.join(out, f'{name}_pred.npz')
        return osp.isfile(path) and osp.getmtime(path) >= made

    if not all(current(n) for n in names):
        experiments.run(python_tool('tools/test.py', config, ckpt, '--work-dir',
                                    osp.join(run_dir, 'test_out'), '--out', out,
                                    '--cfg-options', *data_options(args.data),
                                    *args.options),
                        osp.join(run_dir, 'test_out.log'), quiet=True)
    return rendered_panorama_miou(out, args.data, 'test')['mIoU']


def view_coverage(args, views: int):
    """Mean share of the training rooms' surface voxels the teacher's rays reach, from the
    room's own view and from ``views`` views (rays at the distillation resolution)."""
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


def distillation_plan(args, seed, teacher_ckpt, options=()):
    """``[(run, --cfg-options, the run it starts from (or none))]`` of one seed's
    label-scarce student, no-KD controls and distilled runs, in the order they can run: the
    run inputs (data, seed, teacher, labelled rooms) of the recipe's configs, and
    ``options`` (the driver's ``--options``) on every run."""
    data = data_options(args.data) + [f'randomness.seed={seed}']
    # tested below, not validated meanwhile
    room = data + ['train_cfg.val_interval=100000']
    kd = [f'model.teacher_checkpoint={teacher_ckpt}',
          f'model.teacher_config={args.teacher_config}']
    scarce = [f'train_dataloader.dataset.labelled_rooms={args.labelled_rooms}']
    plan = [('3dseg-t-scarce', data + schedule_options(args.iters) +
             [f'train_dataloader.dataset.indices={args.labelled_rooms}'])]
    for suffix, base in (('', '3dseg-t'), ('-scarce', '3dseg-t-scarce')):
        plan += [(f'3dseg-t+room{suffix}', room + (scarce if suffix else []), base),
                 (f'3dseg-t+distill{suffix}', room + kd + (scarce if suffix else []), base)]
    plan.append(('3dseg-t+distill-multiview', room + kd, '3dseg-t'))
    return [(name, run_options + list(options), *base) for name, run_options, *base in plan]


def distillation_runs(args, seed, student, teacher_ckpt, only=None):
    """The student, its no-KD control and its distilled runs, full and label-scarce, for one
    seed (``only``: just these runs of the plan): ``{run: record}`` with ``panorama_mIoU``
    added."""
    records = {'3dseg-t': dict(student)}
    if only is None:  # the student's row of the table
        records['3dseg-t']['panorama_mIoU'] = student_panorama_miou(
            args, osp.join(args.out, f'seed{seed}', '3dseg-t'), CONFIGS['3dseg-t'],
            student['checkpoint'])
    plan = distillation_plan(args, seed, teacher_ckpt, args.options)
    for name, options, *base in plan:
        if only is not None and name not in only:
            continue
        if base:
            options = options + [f"load_from={records[base[0]]['checkpoint']}"]
        run_dir = osp.join(args.out, f'seed{seed}', name)
        config = RECIPES[args.recipe][name]
        record = experiments.train_and_test(
            run_dir, config, options, osp.join(args.out, f'seed{seed}_{name}'),
            test_args=['--out', osp.join(run_dir, 'test_pred')])
        record['panorama_mIoU'] = rendered_panorama_miou(osp.join(run_dir, 'test_pred'),
                                                         args.data, 'test')['mIoU']
        record['iters'] = args.iters if name == '3dseg-t-scarce' else Config.fromfile(
            osp.join(ROOT, config)).train_cfg.max_iters
        if name.endswith('-scarce'):
            record['labelled_rooms'] = args.labelled_rooms
        records[name] = record
        print(f'  seed {seed} {name:<26} ' + '  '.join(
            f'{k} {v:.2f}' for k, v in record['metrics'].items() if k in METRICS[:2]) +
            f"  panorama_mIoU {record['panorama_mIoU']:.2f}", flush=True)
    return records


def distillation_table(results):
    """The distillation rows and the teacher as markdown lines (mean ± std over seeds; a dash
    where a column does not apply)."""
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


def prepare_teacher(args) -> Tuple[str, dict]:
    """The panorama teacher of the distillation runs (rendering the extra views first):
    tested when ``--teacher-checkpoint`` names one, else trained; its checkpoint and result."""
    experiments.render_views(args.data, osp.join(args.out, 'render_views.log'))
    if args.teacher_checkpoint:
        experiments.run(python_tool('tools/test.py', args.teacher_config,
                                    args.teacher_checkpoint, '--work-dir',
                                    osp.join(args.out, 'teacher', 'test'), '--cfg-options',
                                    f'test_dataloader.dataset.data_root={args.data}',
                                    *args.options),
                        osp.join(args.out, 'teacher_test.log'))
        teacher = dict(checkpoint=args.teacher_checkpoint, metrics=experiments.last_metrics(
            osp.join(args.out, 'teacher', 'test')))
    else:
        teacher = experiments.train_and_test(
            osp.join(args.out, 'teacher'), args.teacher_config, data_options(args.data) + (
                schedule_options(args.teacher_iters) if args.teacher_iters else []) +
            list(args.options),
            osp.join(args.out, 'teacher'), keys=('mIoU', 'mAcc', 'aAcc'))
    print(f"  teacher panorama mIoU {teacher['metrics']['mIoU']:.2f}", flush=True)
    return teacher['checkpoint'], dict(panorama_mIoU=[teacher['metrics']['mIoU']])
