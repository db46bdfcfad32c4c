# Copyright (c) 3D Segmenter authors. All rights reserved.
"""CPU recipe study of the embedded 2D teacher (mmseg's Segmenter), on VALIDATION panoramas.

    python studies/teacher_study.py --data data/study --out work_dirs/teacher_study

The teacher trains on every panorama in ``images/training`` (the rooms' own views and the
extra views of ``tools/data/render_views.py``: 2D data is what is cheap) and is scored on the
validation rooms' own panoramas, the view distillation uses. Rows vary the patch size, the
schedule and the class weighting (``-balanced``: cross entropy weighted by the square root of
the inverse class frequency of the training annotations); ``-pano2d`` rows also train on the
panoramas of ``--pano2d`` rooms, which have no 3D labels for the student (made if absent: 960
rooms, 20x the study's 48 labelled ones, from another generator seed). Writes
``OUT/teacher_study.md`` and ``OUT/teacher_study.json`` (``{row: {"mIoU", "mAcc", "aAcc",
"train_seconds", "iters", "panoramas"}}``); a finished row is reused.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import NamedTuple, Optional, Sequence

# the repository (studies/ is not installed with the package)
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from studies import experiments  # noqa: E402
from studies.class_weights import balanced_class_weights, label_frequencies  # noqa: E402
from studies.experiments import ROOT, data_options, pano2d_options, schedule_options  # noqa: E402

TEACHER = 'configs/teacher/segmenter_vit-t_mask_1xb4-1k_synthrooms-128x256.py'
PANO2D = 'configs/teacher/segmenter_vit-t_mask_1xb4-4k_synthrooms+pano2d-{}.py'


class Row(NamedTuple):
    """One teacher recipe: its iterations, extra ``--cfg-options``, class-balanced cross
    entropy, the config of a row that also trains on the panorama-only rooms, and the row whose
    last checkpoint it starts from (``load_from``; a new warm-up and decay on top of it)."""
    iters: int
    extra: Sequence[str] = ()
    balanced: bool = False
    pano2d_config: Optional[str] = None
    init: Optional[str] = None


CROP = PANO2D.format('256x128')
ROWS = {
    'p16-1k': Row(1000),
    'p8-1k': Row(1000, ['model.backbone.patch_size=8']),
    'p16-1k-balanced': Row(1000, balanced=True),
    'p16-4k': Row(4000),
    'p16-4k-balanced': Row(4000, balanced=True),
    'p16-4k-balanced-pano2d': Row(4000, balanced=True, pano2d_config=PANO2D.format('128x256')),
    # native resolution: 256x128 crops of the 256x512 panoramas, slid at test time
    'p16-4k-balanced-pano2d-crop': Row(4000, balanced=True, pano2d_config=CROP),
    'p16-8k-balanced-pano2d-crop': Row(8000, balanced=True, pano2d_config=CROP),
    # the 8k teacher was still improving at its end: 12k more iterations from its weights
    'p16-8k+12k-balanced-pano2d-crop': Row(12000, balanced=True, pano2d_config=CROP,
                                           init='p16-8k-balanced-pano2d-crop'),
    'p16-20k+8k-balanced-pano2d-crop': Row(8000, balanced=True, pano2d_config=CROP,
                                           init='p16-8k+12k-balanced-pano2d-crop'),
}
PANO2D_ROOMS = 960
VALIDATION = ['test_dataloader.dataset.data_prefix.img_path=images/validation',
              'test_dataloader.dataset.data_prefix.seg_map_path=annotations/validation']


def class_weight_option(roots: Sequence[str], num_classes: int = 30) -> str:
    """``--cfg-options`` item weighting the teacher's cross entropy by the class frequency of
    the training annotations of the ``roots``."""
    folders = [osp.join(root, 'annotations', 'training') for root in roots]
    paths = [osp.join(d, f) for d in folders for f in sorted(os.listdir(d)) if f.endswith('.png')]
    weights = balanced_class_weights(label_frequencies(paths, num_classes))
    return 'model.decode_head.loss_decode.class_weight=[' + ','.join(map(str, weights)) + ']'


def ensure_pano2d_rooms(pano2d: str, log: str) -> None:
    """The panorama-only rooms: the study's generator settings, seed 1 (no room in common with
    the seed-0 study rooms), all in the training split."""
    if osp.isfile(osp.join(pano2d, 'splits', 'training.txt')):
        return
    experiments.run(experiments.python_tool(
        'tools/data/generate_synthrooms.py', '--out', pano2d, '--num-rooms', str(PANO2D_ROOMS),
        '--seed', '1', '--split', '1', '0', '0', *experiments.STUDY_ROOMS), log)


def total_iters(row: str) -> int:
    """The iterations behind a row's teacher, those of the rows it starts from included."""
    return ROWS[row].iters + (total_iters(ROWS[row].init) if ROWS[row].init else 0)


def init_checkpoint(out: str, row: str) -> str:
    """The checkpoint of a finished ``row`` of the study in ``out``, which another row starts
    from."""
    record = osp.join(out, row, 'record_validation.json')
    if not osp.isfile(record):
        raise FileNotFoundError(f'{record}: run the row {row!r} first (--rows {row} ...)')
    return json.load(open(record))['checkpoint']


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default='data/study')
    p.add_argument('--out', default='work_dirs/teacher_study')
    p.add_argument('--rows', nargs='+', choices=list(ROWS), default=list(ROWS))
    p.add_argument('--config', default=TEACHER)
    p.add_argument('--pano2d', default='data/study_pano2d',
                   help='panorama-only rooms of the -pano2d rows (generated if absent)')
    args = p.parse_args(argv)
    os.chdir(ROOT)
    os.makedirs(args.out, exist_ok=True)
    images = osp.join(args.data, 'images', 'training')
    if not osp.isdir(images):
        sys.exit(f'error: {images}: no training panoramas (generate rooms first)')
    results = {}
    for name in args.rows:
        row = ROWS[name]
        config, roots = args.config, [args.data]
        if row.pano2d_config:
            ensure_pano2d_rooms(args.pano2d, osp.join(args.out, 'generate_pano2d.log'))
            config, roots = row.pano2d_config, [args.data, args.pano2d]
            options = pano2d_options(args.data, args.pano2d)
        else:
            options = data_options(args.data)
        options += schedule_options(row.iters) + list(row.extra)
        if row.balanced:
            options.append(class_weight_option(roots))
        if row.init:
            options.append(f'load_from={init_checkpoint(args.out, row.init)}')
        iters = total_iters(name)
        record = experiments.train_and_test(
            osp.join(args.out, name), config, options, osp.join(args.out, name),
            split='validation', keys=('mIoU', 'mAcc', 'aAcc'), test_options=VALIDATION)
        panoramas = sum(len([f for f in os.listdir(osp.join(root, 'images', 'training'))
                             if f.endswith('.png')]) for root in roots)
        results[name] = dict(record['metrics'], train_seconds=record['train_seconds'],
                             iters=iters, panoramas=panoramas)
        print(f'  {name:<8} {iters:>5} iters {record["train_seconds"]:7.0f} s  ' +
              '  '.join(f'{k} {v:.2f}' for k, v in record['metrics'].items()), flush=True)
    lines = [f'## Teacher study on {args.data}, scored on the validation rooms\' own panoramas',
             '',
             f'Config: `{args.config}`. Command: `python studies/teacher_study.py '
             f'--data {args.data} --out {args.out}`.', '',
             '| row | mIoU | mAcc | aAcc | iterations | training panoramas | train s |',
             '|---' * 7 + '|']
    lines += [f"| {n} | {r['mIoU']:.2f} | {r['mAcc']:.2f} | {r['aAcc']:.2f} | {r['iters']} | "
              f"{r['panoramas']} | {r['train_seconds']:.0f} |" for n, r in results.items()]
    print('\n' + experiments.write_report(args.out, 'teacher_study', results, lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
