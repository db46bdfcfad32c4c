# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Seconds per training step of the CPU recipes (batch 2 of 32^3 blocks, Adam, 30 classes).

What the equal-wall-clock comparisons of studies/recipe_study.py, paper_tables.py and
baseline_study.py rest on: 3DSeg-T at patch 2 (16^3 tokens a block) against patch 4 (8^3),
the 3D U-Net and the two other baselines. Medians of ``--steps`` steps after two warm-up
steps; prints a table and records it in its section of benchmarks/RESULTS.md.

    python benchmarks/train_step.py
    python benchmarks/train_step.py --real data/synthrooms-study --rows baselines

Random input makes every voxel of a block active, which is the sparse U-Net's worst case
(it convolves only the non-free voxels), so ``--real ROOT`` draws the blocks from the training
rooms under ROOT with the config's own pipeline instead; the dense models cost the same
either way.
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
SPARSE = osp.join(ROOT, 'configs/sparseunet/sparseunet_1xb2-3k_synthrooms-32.py')
SWIN_UNETR = osp.join(ROOT, 'configs/swinunetr/swinunetr_1xb2-3k_synthrooms-32.py')
ROWS = [('3DSeg-T, patch 4', T, dict(patch_size=4), 32),
        ('3DSeg-T, patch 2 (the embedded default)', T, dict(patch_size=2), 32),
        ('3DSeg-B, patch 2', B, dict(patch_size=2), 32),
        ('3DSeg-T, patch 4, 64^3 blocks', T, dict(patch_size=4), 64),
        ('UNet3D (base 16)', UNET, {}, 32),
        ('SparseUNet3D (base 16)', SPARSE, {}, 32),
        ('SwinUNETR (feature 12, GN)', SWIN_UNETR, {}, 32)]
# the rows of the baseline comparison (studies/baseline_study.py)
BASELINES = ('3DSeg-T, patch 2 (the embedded default)', 'UNet3D (base 16)',
             'SparseUNet3D (base 16)', 'SwinUNETR (feature 12, GN)')


def real_batches(config, data_root, count, batch=2):
    """``count`` training batches of ``config``'s pipeline on the rooms under ``data_root``."""
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import DATASETS
    cfg = Config.fromfile(config).train_dataloader.dataset
    cfg.data_root = data_root
    dataset = DATASETS.build(cfg)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(dataset), generator=gen).tolist()
    return [pseudo_collate([dataset[order[(i * batch + j) % len(order)]] for j in range(batch)])
            for i in range(count)]


def step_seconds(config, backbone, crop, steps, batch=2, data_root=None):
    import segmenter3d  # noqa: F401  (registers the parts)
    from segmenter3d.structures import VolumeData, VolumeDataSample
    cfg = Config.fromfile(config).model
    cfg.backbone.update(backbone)
    model = MODELS.build(cfg).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    if data_root:
        batches = [model.data_preprocessor(b, True)
                   for b in real_batches(config, data_root, steps + 2, batch)]
        batches = [(b['inputs'], b['data_samples']) for b in batches]
    else:
        x = torch.rand(batch, 4, crop, crop, crop) * 2 - 1
        samples = []
        for _ in range(batch):
            s = VolumeDataSample()
            s.gt_sem_seg = VolumeData(data=torch.randint(0, 30, (1, crop, crop, crop)))
            samples.append(s)
        batches = [(x, samples)] * (steps + 2)
    times = []
    for x, samples in batches:
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
    p.add_argument('--real', metavar='ROOT', help='draw blocks from the training rooms here')
    p.add_argument('--rows', choices=['all', 'baselines'], default='all')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    init_default_scope('mmseg')
    rows = []
    for name, config, backbone, crop in ROWS:
        if args.rows == 'baselines' and name not in BASELINES:
            continue
        if args.real and crop != 32:
            continue  # the training rooms' pipeline crops 32^3 blocks
        seconds = step_seconds(config, backbone, crop, args.steps, data_root=args.real)
        rows.append(f'| {name} | {crop}^3 | {seconds:.3f} |')
        print(rows[-1], flush=True)
    source = f'blocks from the training rooms of {args.real}' if args.real else 'random input'
    command = ' '.join(['python benchmarks/train_step.py'] + sys.argv[1:])
    # the comparison's clock is its own section: a run of the recipes must not replace it
    title = ('train_step.py --rows baselines: seconds per step of the compared models'
             if args.rows == 'baselines' else 'train_step.py: seconds per step of the CPU recipes')
    record(f'\n## {title}\n\n'
           f'{time.strftime("%Y-%m-%d")}. {args.threads} threads, torch '
           f'{torch.__version__}; batch 2, medians of {args.steps} steps; {source}.\n\n'
           f'Command: `{command}`\n\n| model | block | s / step |\n|---|---|---|\n' +
           '\n'.join(rows) + '\n')


if __name__ == '__main__':
    main()
