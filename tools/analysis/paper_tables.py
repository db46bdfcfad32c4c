# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The paper's tables on the generated rooms, at CPU scale, with fixed seeds.

    python tools/analysis/paper_tables.py --data data/synthrooms --out work_dirs/paper_tables

Trains (or reuses, when a run's last checkpoint is there) and tests, all on the same rooms:

1. models: 3DSeg-T, 3DSeg-B vs UNet3D (mIoU, mAcc, aAcc, surface mIoU, parameters, whole-room
   inference seconds on the test rooms, speed-up over UNet3D);
2. the decoder's skip connection vs none (3DSeg-T);
3. block training vs block training + room-level fine-tuning without distillation vs block
   training + distillation from the panorama teacher (same room-level schedule).

Writes ``OUT/paper_tables.md`` (and ``--record`` appends it to benchmarks/RESULTS.md) and
``OUT/paper_tables_loss.png`` (training loss curves). Reports what comes out.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from demo import ROOT, iters_options, last_checkpoint, last_metrics, run  # noqa: E402

from segmenter3d.apis import inference_room, init_segmentor  # noqa: E402
from segmenter3d.datasets import load_room, room_to_input  # noqa: E402

BLOCK = dict(
    **{'3dseg-t': 'configs/3dseg/3dseg-t_2xb2-3k_synthrooms-32.py',
       '3dseg-b': 'configs/3dseg/3dseg-b_2xb2-3k_synthrooms-32.py',
       'unet3d': 'configs/unet3d/unet3d_2xb2-3k_synthrooms-32.py',
       '3dseg-t-noskip': 'configs/3dseg/3dseg-t-noskip_2xb2-3k_synthrooms-32.py'})
TEACHER = 'configs/teacher/segmenter_vit-t_synthrooms.py'
ROOM_FT = 'configs/3dseg/3dseg-t_1xb1-360_synthrooms-room.py'
DISTILL = 'configs/distill/3dseg-t_segmenter-t_synthrooms.py'
ORDER = ['3dseg-t', '3dseg-b', 'unet3d', '3dseg-t-noskip', 'teacher', '3dseg-t+room',
         '3dseg-t+distill']


def plan(names):
    """(name, config, needs) for every run, in an order that satisfies ``needs``."""
    runs = {k: (v, ()) for k, v in BLOCK.items()}
    runs.update({'teacher': (TEACHER, ()), '3dseg-t+room': (ROOM_FT, ('3dseg-t', )),
                 '3dseg-t+distill': (DISTILL, ('3dseg-t', 'teacher'))})
    wanted, out = set(names), []
    for name in ORDER:  # pull in what the requested runs stand on
        if name in wanted:
            wanted.update(runs[name][1])
    for name in ORDER:
        if name in wanted:
            out.append((name, ) + runs[name])
    return out


def train_and_test(args, name, config, needs, done):
    """Train (unless finished before) and test one run; returns its checkpoint and metrics."""
    w = osp.join(args.out, name)
    data = [f'{k}_dataloader.dataset.data_root={args.data}' for k in ('train', 'val', 'test')]
    data.append(f'randomness.seed={args.seed}')
    block = name in BLOCK
    iters = args.iters if block else args.teacher_iters if name == 'teacher' else args.room_iters
    extra = iters_options(iters)
    if '3dseg-t' in needs:
        extra.append(f"load_from={done['3dseg-t'][0]}")
    if 'teacher' in needs:
        extra.append(f"model.teacher_checkpoint={done['teacher'][0]}")
    finished = osp.join(w, 'finished')
    if not osp.exists(finished):
        resume = []
        if osp.isfile(osp.join(w, 'last_checkpoint')):  # interrupted before: continue it
            resume = ['--resume']
            extra = [e for e in extra if not e.startswith('load_from=')] + ['load_from=None']
        run([sys.executable, 'tools/train.py', config, '--work-dir', w] + resume +
            ['--cfg-options'] + data + extra, osp.join(args.out, f'{name}_train.log'))
        open(finished, 'w').write(last_checkpoint(w))
    ckpt = open(finished).read().strip()
    test_dir = osp.join(w, 'test')
    if not last_metrics(test_dir):
        # a distilled checkpoint is a plain student: test it without building the teacher
        test_config = ROOM_FT if config == DISTILL else config
        run([sys.executable, 'tools/test.py', test_config, ckpt, '--work-dir', test_dir,
             '--cfg-options'] + data, osp.join(args.out, f'{name}_test.log'))
    return ckpt, last_metrics(test_dir)


def time_inference(config, ckpt, rooms, repeats):
    """Parameters and the median over ``repeats`` of the total whole-room inference seconds."""
    model = init_segmentor(config, ckpt)
    params = sum(p.numel() for p in model.parameters())
    inputs = [room_to_input(r) for r in rooms]
    inference_room(model, inputs[0])  # warm-up: allocator, thread pool
    totals = []
    for _ in range(repeats):
        start = time.perf_counter()
        for volume in inputs:
            inference_room(model, volume)
        totals.append(time.perf_counter() - start)
    return params, statistics.median(totals)


def loss_curves(args, names, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in names:
        scalars = sorted(
            os.path.join(d, 'vis_data', 'scalars.json')
            for d in (osp.join(args.out, name, t) for t in os.listdir(osp.join(args.out, name)))
            if osp.isfile(os.path.join(d, 'vis_data', 'scalars.json')))
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


def fmt(metrics, key):
    return f"{metrics[key]:.2f}" if key in metrics else '-'


def tables(args, results, timing, n_rooms):
    metric_cols = ('mIoU', 'mAcc', 'aAcc', 'surface_mIoU')
    head = '| run | ' + ' | '.join(metric_cols)
    lines = [f'## Paper tables on {args.data} ({n_rooms} test rooms, seed {args.seed})', '',
             f'Machine: {platform.processor() or platform.machine()}, '
             f'{torch.get_num_threads()} threads, torch {torch.__version__}. Command: '
             f'`python tools/analysis/paper_tables.py --data {args.data} --out {args.out}'
             + (f' --iters {args.iters}' if args.iters else '') + '`.', '']

    def row(name, extra=()):
        m = results[name][1]
        return f'| {name} | ' + ' | '.join([fmt(m, k) for k in metric_cols] + list(extra)) + ' |'

    models = [n for n in ('3dseg-t', '3dseg-b', 'unet3d') if n in results]
    if models:
        lines += ['### 3D Segmenter vs 3D U-Net (block training)', '',
                  head + ' | params | inference s | speed-up vs UNet3D |',
                  '|---' * (len(metric_cols) + 4) + '|']
        base = timing.get('unet3d', (0, float('nan')))[1]
        for n in models:
            p, s = timing[n]
            lines.append(row(n, (f'{p:,}', f'{s:.2f}', f'{base / s:.2f}x')))
        lines.append('')
    if '3dseg-t-noskip' in results:
        lines += ['### Skip connection (3DSeg-T)', '', head + ' |',
                  '|---' * (len(metric_cols) + 1) + '|', row('3dseg-t'),
                  row('3dseg-t-noskip'), '']
    stages = [n for n in ('3dseg-t', '3dseg-t+room', '3dseg-t+distill') if n in results]
    if len(stages) > 1:
        lines += ['### Distillation (3DSeg-T; the room-level runs start from the block-trained '
                  'one)', '',
                  head + ' |', '|---' * (len(metric_cols) + 1) + '|']
        lines += [row(n) for n in stages]
        if 'teacher' in results:
            lines.append(f"\nPanorama teacher (ViT-T, 2D test mIoU): "
                         f"{fmt(results['teacher'][1], 'mIoU')}")
        lines.append('')
    return '\n'.join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default='data/synthrooms',
                   help='generated rooms (make demo writes them, or '
                   'tools/data/generate_synthrooms.py)')
    p.add_argument('--out', default='work_dirs/paper_tables')
    p.add_argument('--only', nargs='+', choices=ORDER, default=ORDER,
                   help='runs to make (with the runs they start from)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--iters', type=int, default=None, help='override block-training iterations')
    p.add_argument('--room-iters', type=int, default=None)
    p.add_argument('--teacher-iters', type=int, default=None)
    p.add_argument('--repeats', type=int, default=3, help='timing repeats (median)')
    p.add_argument('--record', action='store_true', help='append to benchmarks/RESULTS.md')
    args = p.parse_args(argv)
    split = osp.join(ROOT, args.data, 'splits', 'test.txt')
    if not osp.isfile(split):
        sys.exit(f'error: {split} not found: generate the rooms first (make demo, or '
                 'tools/data/generate_synthrooms.py --out DATA ...)')
    os.makedirs(osp.join(ROOT, args.out), exist_ok=True)
    os.chdir(ROOT)
    results = {}
    for name, config, needs in plan(args.only):
        results[name] = train_and_test(args, name, config, needs, results)
    names = open(split).read().split()
    rooms = [load_room(osp.join(args.data, 'volumes', f'{n}.npz')) for n in names]
    timing = {}
    for name in results:
        if name in BLOCK and name != '3dseg-t-noskip':
            timing[name] = time_inference(BLOCK[name], results[name][0], rooms, args.repeats)
    text = tables(args, results, timing, len(rooms))
    with open(osp.join(args.out, 'paper_tables.md'), 'w') as f:
        f.write(text + '\n')
    loss_curves(args, [n for n in results if n != 'teacher'],
                osp.join(args.out, 'paper_tables_loss.png'))
    if args.record:
        with open(osp.join(ROOT, 'benchmarks', 'RESULTS.md'), 'a') as f:
            f.write('\n' + text + '\n')
    print('\n' + text)
    print(f'\nwritten: {args.out}/paper_tables.md, {args.out}/paper_tables_loss.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
