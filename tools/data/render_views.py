# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Render more panoramas per room: N-1 eye-level cameras beside the room's own one.

    python tools/data/render_views.py --data data/synthrooms --views 4 --splits training

Writes ``images|annotations|depth/<split>/<room>_view<k>.png`` and ``cameras/<room>.npy``
(see :mod:`segmenter3d.synthrooms.views`). Rooms that have their cameras file are skipped, so an
interrupted run is resumed by running it again. A distillation config reads the views with
``VolumeDataset(num_views=N, data_prefix=dict(..., camera_path='cameras'))``; the teacher's
``PanoramaDataset`` finds them in ``images/<split>`` like any panorama.
"""
import argparse
import os
import os.path as osp
import sys
from functools import partial

import mmcv
from mmengine.utils import track_parallel_progress, track_progress

from segmenter3d.datasets.image_size import check_image_pixels
from segmenter3d.datasets.volume_dataset import read_split_file
from segmenter3d.engine.runtime import report_failures
from segmenter3d.synthrooms import render_views
from segmenter3d.synthrooms.generate import check_pano_size

MAX_VIEWS = 64  # panoramas a room: each is a full render


def _render(task, data, views, pano_size, seed):
    """True when rendered, False when already complete, the error (a string) when the room
    cannot be rendered: one bad room must not stop the others."""
    import torch
    torch.set_num_threads(1)  # parallelism comes from the worker processes
    room, split = task
    try:
        return render_views(data, room, split, views, pano_size, seed) is not None
    except (ValueError, OSError) as err:
        return f'{split}/{room}: {err}'


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', required=True, help='generated rooms (volumes/, splits/, images/)')
    p.add_argument('--views', type=int, required=True, help='panoramas per room, with its own')
    p.add_argument('--splits', nargs='+', default=['training'],
                   choices=['training', 'validation', 'test'])
    p.add_argument('--pano-size', type=int, nargs=2, default=None, metavar=('H', 'W'),
                   help='default: the size of the rooms\' own panoramas')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--workers', type=int, default=1)
    args = p.parse_args(argv)
    if args.views < 2:
        sys.exit(f'error: --views {args.views}: a room already has its own view; ask for 2 '
                 'or more')
    if args.views > MAX_VIEWS:
        sys.exit(f'error: --views {args.views}: at most {MAX_VIEWS} panoramas a room')
    if args.seed < 0 or args.workers < 1:
        sys.exit(f'error: --seed must be >= 0 and --workers >= 1, got {args.seed} and '
                 f'{args.workers}')
    tasks, split_of = [], {}
    for split in args.splits:
        path = osp.join(args.data, 'splits', f'{split}.txt')
        if not osp.isfile(path):
            sys.exit(f'error: {path}: split file not found')
        try:  # names outside the data folder, duplicates, a BOM, bad bytes: see the reader
            names = [name for _, name in read_split_file(path)]
        except ValueError as err:
            sys.exit(f'error: {err}')
        for name in names:  # views go to the room's one split, beside its own panorama
            if name in split_of:
                sys.exit(f'error: {path}: room {name!r} is also listed in splits/'
                         f'{split_of[name]}.txt; a room belongs to one split')
            split_of[name] = split
        tasks += [(name, split) for name in names]
    if not tasks:
        sys.exit(f'error: no rooms listed in {args.data}/splits for {args.splits}')
    pano_size = args.pano_size
    if pano_size is None:
        first = osp.join(args.data, 'images', tasks[0][1], f'{tasks[0][0]}.png')
        if not osp.isfile(first) and osp.isfile(first[:-4] + '.jpg'):  # the release's
            first = first[:-4] + '.jpg'
        if not osp.isfile(first):
            sys.exit(f'error: {first}: not found; pass --pano-size H W')
        try:
            check_image_pixels(first)
            image = mmcv.imread(first)
        except (ValueError, OSError) as err:  # cv2 raises on some damaged files
            sys.exit(f'error: {first}: cannot be read as the size of the views ({err})')
        if image is None:
            sys.exit(f'error: {first}: cannot be decoded as an image; pass --pano-size H W')
        pano_size = image.shape[:2]
    try:
        check_pano_size([int(v) for v in pano_size],
                        '--pano-size' if args.pano_size else f'{first}: the panorama')
    except ValueError as err:
        sys.exit(f'error: {err}')
    workers = min(args.workers, len(tasks), os.cpu_count() or 1)
    func = partial(_render, data=args.data, views=args.views, pano_size=tuple(pano_size),
                   seed=args.seed)
    results = (track_parallel_progress(func, tasks, nproc=workers) if workers > 1
               else track_progress(func, tasks))
    failed = [r for r in results if isinstance(r, str)]
    done = [r for r in results if not isinstance(r, str)]
    print(f'\n{sum(done)} rooms rendered, {len(done) - sum(done)} already complete: '
          f'{args.views} views each, {tuple(pano_size)} pixels, in {args.data}')
    return report_failures(failed, f'{len(failed)} of {len(tasks)} rooms could not be '
                           'rendered (a rerun renders only what is missing)')


if __name__ == '__main__':
    sys.exit(main())
