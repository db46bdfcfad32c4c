# Copyright (c) 3D Segmenter authors. All rights reserved.
"""What studies/paper_tables.py writes: ``OUT/results.json``, the markdown tables
(``OUT/paper_tables.md``), the training-loss plot (``OUT/paper_tables_loss.png``) and, with
``--record``, the table of record under ``benchmarks/`` (its other runs kept).
"""
import json
import os
import os.path as osp
import platform
import shutil

import torch

from studies import experiments
from studies.block_rows import METRICS, ORDER, SAME_RUN
from studies.distillation_rows import distillation_table
from studies.experiments import ROOT, mean_std


def tables(args, results, n_rooms):
    """The markdown tables over ``n_rooms`` test rooms: the block-trained rows (mean ± std over
    seeds, parameters, inference seconds) and, when ``results`` has a teacher, the distillation
    rows."""
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
