# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Seconds per training step of the CPU recipes (batch 2 of 32^3 blocks, Adam, 30 classes).

What the equal-wall-clock comparisons of studies/recipe_study.py and paper_tables.py
rest on: 3DSeg-T at patch 2 (16^3 tokens a block) against patch 4 (8^3) and the 3D U-Net.
Medians of ``--steps`` steps after two warm-up steps; prints a table and appends it to
benchmarks/RESULTS.md.

    python benchmarks/train_step.py
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import time

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
from measure import record  # noqa: E402

ROOT = osp.dirname(HERE)
T = osp.join(ROOT, 'configs/3dseg/3dseg-t_1xb2-3k_synthrooms-32.py')
B = osp.join(ROOT, 'configs/3dseg/3dseg-b_1xb2-3k_synthrooms-32.py')
UNET = osp.join(ROOT, 'configs/unet3d/unet3d_1xb2-3k_synthrooms-32.py')
ROWS = [('3DSeg-T, patch 4', T, dict(patch_size=4), 32),
        ('3DSeg-T, patch 2 (the embedded default)', T, dict(patch_size=2), 32),
        ('3DSeg-B, patch 2', B, dict(patch_size=2), 32),
        ('3DSeg-T, patch 4, 64^3 blocks', T, dict(patch_size=4), 64),
        ('UNet3D (base 16)', UNET, {}, 32)]


def step_seconds(config, backbone, crop, steps, batch=2):
    import segmenter3d  # noqa: F401  (registers the parts)
    from segmenter3d.structures import VolumeData, VolumeDataSample
    cfg = Config.fromfile(config).model
    cfg.backbone.update(backbone)
    model = MODELS.build(cfg).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.rand(batch, 4, crop, crop, crop) * 2 - 1
    samples = []
    for _ in range(batch):
        s = VolumeDataSample()
        s.gt_sem_seg = VolumeData(data=torch.randint(0, 30, (1, crop, crop, crop)))
        samples.append(s)
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        loss = sum(v for k, v in model.loss(x, samples).items() if 'loss' in k)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--steps', type=int, default=6)
    p.add_argument('--threads', type=int, default=os.cpu_count())
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    init_default_scope('mmseg')
    rows = []
    for name, config, backbone, crop in ROWS:
        seconds = step_seconds(config, backbone, crop, args.steps)
        rows.append(f'| {name} | {crop}^3 | {seconds:.3f} |')
        print(rows[-1], flush=True)
    record(f'\n## train_step.py, {time.strftime("%Y-%m-%d")}\n\n{args.threads} threads, torch '
           f'{torch.__version__}; batch 2, medians of {args.steps} steps.\n\nCommand: `python '
           'benchmarks/train_step.py`\n\n| model | block | s / step |\n|---|---|---|\n' +
           '\n'.join(rows) + '\n')


if __name__ == '__main__':
    main()
