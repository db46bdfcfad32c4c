# Copyright (c) 3D Segmenter authors. All rights reserved.
"""CPU recipe study of the embedded 2D teacher (mmseg's Segmenter), on VALIDATION panoramas.

    python tools/analysis/teacher_study.py --data data/study --out work_dirs/teacher_study

The teacher trains on every panorama in ``images/training`` (the rooms' own views and the
extra views of ``tools/data/render_views.py``: 2D data is what is cheap) and is scored on the
validation rooms' own panoramas, the view distillation uses. Rows vary the patch size, the
schedule and the class weighting (``-balanced``: cross entropy weighted by the square root of
the inverse class frequency of the training annotations). Writes ``OUT/teacher_study.md`` and
``OUT/teacher_study.json`` (``{row: {"mIoU", "mAcc", "aAcc", "train_seconds", "iters",
"panoramas"}}``); a finished row is reused.
"""
import argparse
import json
import os
import os.path as osp
import sys

from segmenter3d.apis import experiments
from segmenter3d.apis.experiments import ROOT, data_options, schedule_options
from segmenter3d.datasets.class_weights import balanced_class_weights, label_frequencies

TEACHER = 'configs/teacher/segmenter_vit-t_mask_1xb4-1k_synthrooms-128x256.py'
# row -> (iterations, extra options, class-balanced cross entropy)
ROWS = {
    'p16-1k': (1000, [], False),
    'p8-1k': (1000, ['model.backbone.patch_size=8'], False),
    'p16-1k-balanced': (1000, [], True),
    'p16-4k': (4000, [], False),
    'p16-4k-balanced': (4000, [], True),
}
VALIDATION = ['test_dataloader.dataset.data_prefix.img_path=images/validation',
              'test_dataloader.dataset.data_prefix.seg_map_path=annotations/validation']


def class_weight_option(data: str, num_classes: int = 30) -> str:
    """``--cfg-options`` item weighting the teacher's cross entropy by class frequency."""
    folder = osp.join(data, 'annotations', 'training')
    paths = [osp.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith('.png')]
    weights = balanced_class_weights(label_frequencies(paths, num_classes))
    return 'model.decode_head.loss_decode.class_weight=[' + ','.join(map(str, weights)) + ']'


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default='data/study')
    p.add_argument('--out', default='work_dirs/teacher_study')
    p.add_argument('--rows', nargs='+', choices=list(ROWS), default=list(ROWS))
    p.add_argument('--config', default=TEACHER)
    args = p.parse_args(argv)
    os.chdir(ROOT)
    os.makedirs(args.out, exist_ok=True)
    images = osp.join(args.data, 'images', 'training')
    if not osp.isdir(images):
        sys.exit(f'error: {images}: no training panoramas (generate rooms first)')
    panoramas = len([f for f in os.listdir(images) if f.endswith('.png')])
    results = {}
    for name in args.rows:
        iters, extra, balanced = ROWS[name]
        options = data_options(args.data) + schedule_options(iters) + extra
        if balanced:
            options.append(class_weight_option(args.data))
        record = experiments.train_and_test(
            osp.join(args.out, name), args.config, options, osp.join(args.out, name),
            split='validation', keys=('mIoU', 'mAcc', 'aAcc'), test_options=VALIDATION)
        results[name] = dict(record['metrics'], train_seconds=record['train_seconds'],
                             iters=iters, panoramas=panoramas)
        print(f'  {name:<8} {iters:>5} iters {record["train_seconds"]:7.0f} s  ' +
              '  '.join(f'{k} {v:.2f}' for k, v in record['metrics'].items()), flush=True)
    with open(osp.join(args.out, 'teacher_study.json'), 'w') as f:
        json.dump(results, f, indent=1)
    lines = [f'## Teacher study on {args.data}: {panoramas} training panoramas, scored on the '
             'validation rooms\' own panoramas', '',
             f'Config: `{args.config}`. Command: `python tools/analysis/teacher_study.py '
             f'--data {args.data} --out {args.out}`.', '',
             '| row | mIoU | mAcc | aAcc | iterations | train s |', '|---' * 6 + '|']
    lines += [f"| {n} | {r['mIoU']:.2f} | {r['mAcc']:.2f} | {r['aAcc']:.2f} | {r['iters']} | "
              f"{r['train_seconds']:.0f} |" for n, r in results.items()]
    text = '\n'.join(lines) + '\n'
    with open(osp.join(args.out, 'teacher_study.md'), 'w') as f:
        f.write(text)
    print('\n' + text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
