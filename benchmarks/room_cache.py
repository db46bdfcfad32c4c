# Copyright (c) 3D Segmenter authors. All rights reserved.
"""What the distiller keeps per room between visits: the size of a room's cache entry (its ray
hits, their trilinear projector and the teacher's float16 logits at the hit pixels), built
with the distiller's own ``RoomEntry.cast``, for generated 4 cm rooms at two panorama sizes.

    python benchmarks/room_cache.py [--rooms 5 --classes 30]

Sizes, not times: the numbers do not depend on the machine's load. Prints a table and records
it in its section of benchmarks/RESULTS.md.
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import torch
from mmengine.utils import ProgressBar

from segmenter3d.models.segmentors.room_cache import RoomEntry
from segmenter3d.rendering import TSDFRaycaster
from segmenter3d.synthrooms import generate_room

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
from measure import record  # noqa: E402

SIZES = ((256, 512), (512, 1024))


def entry_mb(caster: TSDFRaycaster, room, classes: int) -> tuple:
    """(MB of the entry with the teacher's rows, share of rays that hit) for one room."""
    tsdf, camera = torch.from_numpy(room.tsdf), torch.from_numpy(room.camera)
    entry = RoomEntry.cast(caster, tsdf, camera)
    # the distiller keeps (hit pixels, K) float16 rows; their values do not change the size
    entry.teacher_rows = torch.zeros(len(entry.projector.pixels), classes, dtype=torch.float16)
    return entry.nbytes / 2**20, entry.hits.valid.float().mean().item()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rooms', type=int, default=5, help='generated rooms (seeds 0..N-1)')
    p.add_argument('--classes', type=int, default=30, help="the teacher's class count")
    args = p.parse_args()
    if args.rooms < 1 or args.classes < 1:
        p.error('--rooms and --classes must be positive')
    rooms = [generate_room(seed, voxel_size=0.04) for seed in range(args.rooms)]
    results = {size: [] for size in SIZES}
    bar = ProgressBar(len(rooms) * len(SIZES))
    for size in SIZES:
        caster = TSDFRaycaster(*size)
        for room in rooms:
            results[size].append(entry_mb(caster, room, args.classes))
            bar.update()
    print()
    table = []
    for (height, width), values in results.items():
        sizes = [mb for mb, _ in values]
        hit = statistics.median(share for _, share in values)
        table.append(f'| {height}x{width} | {hit:.3f} | **{statistics.median(sizes):.1f}** | '
                     f'{min(sizes):.1f} - {max(sizes):.1f} | {int(4096 // max(sizes))} |')
        print(table[-1], flush=True)
    voxels = [room.tsdf.size / 1e6 for room in rooms]
    text = (f'\n## room_cache.py: what distillation keeps per room\n\n'
            f'{time.strftime("%Y-%m-%d")}. {args.rooms} generated 4 cm rooms (seeds '
            f'0-{args.rooms - 1}, {min(voxels):.1f} M to {max(voxels):.1f} M voxels), one '
            f'equirectangular view each, {args.classes} teacher classes in float16, the hit '
            'points only (`ray_offsets=(0,)`; each further offset adds a projector). Sizes, '
            'not times.\n\n'
            'Command: `python benchmarks/room_cache.py`\n\n'
            '| panorama | rays that hit (median) | entry MB (median) | entry MB (min - max) '
            '| rooms in the default 4 GB `room_cache_mb` |\n' + '|---' * 5 + '|\n'
            + '\n'.join(table) + '\n')
    record(text)


if __name__ == '__main__':
    main()
