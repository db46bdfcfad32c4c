# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Peak memory of ``tools/infer.py`` on a large room (goal: 400x400x80 under 1.2 GB).

Writes a box room of the given size (walls, floor and random furniture blocks; 8 cm voxels)
and a checkpoint of random weights, runs ``tools/infer.py`` on them in a child process and
reads the child's peak resident memory. Slide inference keeps float logits of one slab of the
room only, so the peak grows with the window, not the room.

    python benchmarks/infer_memory.py --sizes 200,200,80 400,400,80

Prints a table and records it in its section of benchmarks/RESULTS.md.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from scipy import ndimage

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)
sys.path.insert(0, HERE)
from measure import record  # noqa: E402

CONFIG = 'configs/3dseg/3dseg-t_synthrooms.py'


def box_room(size, seed=0):
    """A closed room with furniture blocks: tsdf (positive in free space), rgb, labels."""
    rng = np.random.default_rng(seed)
    occ = np.ones(size, bool)
    occ[2:-2, 2:-2, 2:-2] = False  # walls, floor and ceiling two voxels thick
    labels = np.full(size, 17, np.uint8)  # walls
    labels[:, :, :2] = 4  # floor
    for _ in range(size[0] * size[1] // 800):
        x, y = rng.integers(4, size[0] - 20), rng.integers(4, size[1] - 20)
        dx, dy, dz = rng.integers(5, 16, 3)
        occ[x:x + dx, y:y + dy, 2:2 + dz] = True
        labels[x:x + dx, y:y + dy, 2:2 + dz] = rng.integers(1, 30)
    inside = ndimage.distance_transform_edt(occ).astype(np.float32)
    outside = ndimage.distance_transform_edt(~occ).astype(np.float32)
    tsdf = np.where(occ, -(inside - 0.5), outside - 0.5).clip(-3, 3)
    rgb = rng.integers(0, 256, (3, 1, 1, 1), dtype=np.uint8).repeat(size[0], 1).repeat(
        size[1], 2).repeat(size[2], 3)
    labels[tsdf >= 3] = 0
    camera = np.array([size[0] / 2, size[1] / 2, size[2] / 2], np.float32)
    return dict(tsdf=tsdf.astype(np.float16), rgb=rgb, labels=labels,
                voxel_size=np.float32(0.08), camera=camera)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sizes', nargs='+', default=['200,200,80', '400,400,80'])
    args = p.parse_args()
    sys.path.insert(0, ROOT)
    from segmenter3d.apis import init_segmentor
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = init_segmentor(osp.join(ROOT, CONFIG))
        model.init_weights()
        ckpt = osp.join(tmp, 'random.pth')
        torch.save(dict(state_dict=model.state_dict()), ckpt)
        for spec in args.sizes:
            size = tuple(int(v) for v in spec.split(','))
            room = osp.join(tmp, f'room_{size[0]}x{size[1]}x{size[2]}.npz')
            np.savez_compressed(room, **box_room(size))
            cmd = [sys.executable, 'tools/infer.py', room, '--config', CONFIG, '--checkpoint',
                   ckpt, '--out', osp.join(tmp, 'out')]
            start = time.time()
            # each room in its own child: ru_maxrss of the children is then that room's peak
            code = ('import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, '
                    'stdout=subprocess.DEVNULL); print(resource.getrusage('
                    'resource.RUSAGE_CHILDREN).ru_maxrss)')
            out = subprocess.run([sys.executable, '-c', code] + cmd, cwd=ROOT,
                                 capture_output=True, text=True, check=True)
            peak_mb = int(out.stdout.strip().splitlines()[-1]) / 1024
            rows.append(f'| {size[0]}x{size[1]}x{size[2]} | {np.prod(size) / 1e6:.1f} M | '
                        f'{peak_mb:.0f} | {time.time() - start:.0f} |')
    threads = os.environ.get('OMP_NUM_THREADS', os.cpu_count())
    text = (f'\n## infer_memory.py: peak memory of tools/infer.py\n\n'
            f'{time.strftime("%Y-%m-%d")}. `tools/infer.py` with '
            f'`{CONFIG}` (random weights, slide 32^3 windows, stride 16) on generated box rooms, '
            f'{threads} threads. Goal: 400x400x80 under 1.2 GB peak RSS.\n\n'
            'Command: `python benchmarks/infer_memory.py --sizes ' + ' '.join(args.sizes) +
            '`\n\n| room (voxels) | voxels | peak RSS of tools/infer.py (MB) | seconds |\n'
            '|---|---|---|---|\n' + '\n'.join(rows) + '\n')
    record(text)


if __name__ == '__main__':
    main()
