# Copyright (c) 3D Segmenter authors. All rights reserved.
"""TSDFRaycaster speed: panorama hits for a generated 4 cm room, and projection of 30-class
logits at the cached hits, forward and backward from a given upstream gradient (the per-step
cost of distillation): through the room's ``HitProjector`` (what the distiller uses; built once
per room) and, for comparison, through ``grid_sample`` at the hit points
(``TSDFRaycaster.project``).

    python benchmarks/raycast.py [--height 512 --width 1024 --repeats 5]

Prints a table and records it in its section of benchmarks/RESULTS.md.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import time

import torch

from segmenter3d.rendering import HitProjector, TSDFRaycaster
from segmenter3d.synthrooms import generate_room

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
from measure import record  # noqa: E402


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--height', type=int, default=512)
    p.add_argument('--width', type=int, default=1024)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--seed', type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(os.cpu_count())
    room = generate_room(args.seed, voxel_size=0.04)
    tsdf, camera = torch.from_numpy(room.tsdf), torch.from_numpy(room.camera)
    table = []
    for mode in ('equirect', 'cubemap'):
        caster = TSDFRaycaster(args.height, args.width, mode=mode)
        hits = caster.cast(tsdf, camera)
        t_cast = median_time(lambda: caster.cast(tsdf, camera), args.repeats)
        logits = torch.randn(30, *tsdf.shape, requires_grad=True)
        t_build = median_time(lambda: HitProjector(hits, tsdf.shape), args.repeats)
        projector = HitProjector(hits, tsdf.shape)

        # backward from a dense upstream gradient, as the distillation loss gives
        grad_rows = torch.randn(len(projector.pixels), 30)
        grad_pano = torch.randn(30, args.height, args.width)

        def rows():  # the distiller's step: (P, 30) rows at the hit pixels
            projector.sample(logits).backward(grad_rows)
            logits.grad = None

        def panorama():  # the same as a (30, H, W) panorama
            projector(logits).backward(grad_pano)
            logits.grad = None

        def grid():
            caster.project(logits, hits).backward(grad_pano)
            logits.grad = None

        t_rows, t_pano, t_grid = (median_time(f, args.repeats) for f in (rows, panorama, grid))
        table.append(f'| {mode} | {tuple(tsdf.shape)} | {args.height}x{args.width} | '
                     f'{hits.valid.float().mean():.3f} | {t_cast:.2f} | {t_build:.2f} | '
                     f'**{t_rows:.3f}** | {t_pano:.3f} | {t_grid:.3f} | '
                     f'{t_grid / t_rows:.1f}x |')
        print(table[-1], flush=True)
    text = (f'\n## raycast.py: ray hits and the distillation projection\n\n'
            f'{time.strftime("%Y-%m-%d")}. {os.cpu_count()} threads, torch '
            f'{torch.__version__}; medians of {args.repeats}. Goals: hits <= 2 s, projection '
            f'with backward <= 0.1 s.\n\nCommand: `python benchmarks/raycast.py`\n\n'
            '| mode | room voxels | panorama | rays that hit | hits (s) | projector build, once '
            'per room (s) | project 30 classes + backward: rows at hits (s) | as a panorama (s) '
            '| grid_sample (s) | speed-up |\n' + '|---' * 10 + '|\n' + '\n'.join(table) + '\n')
    record(text)


if __name__ == '__main__':
    main()
