# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Convert ScanNet v2 scenes to room volumes (TSDF + RGB + 20-class labels, 4 cm voxels).

    python tools/data/scannet_to_volume.py SCANNET_ROOT --out data/scannet

SCANNET_ROOT holds ``scans/<scene>/`` (``<scene>_vh_clean_2.ply``,
``<scene>_vh_clean_2.0.010000.segs.json``, ``<scene>.aggregation.json``),
``scannetv2-labels.combined.tsv`` and optionally the benchmark split lists
``scannetv2_{train,val,test}.txt`` (``scans_test/`` scenes are converted without labels).
Writes ``OUT/volumes/<scene>.npz`` (our room format), ``OUT/vertices/<scene>.npz`` (each mesh
vertex's voxel and label, for point-level mIoU) and ``OUT/splits/{training,validation,
test}.txt``. Scenes already converted are skipped; every file is written atomically. A scene
that cannot be converted is named and left out of the split lists while the others go on; the
exit code is then 1, and a rerun converts only what is missing.
"""
import argparse
import glob
import os
import os.path as osp
import sys
from functools import partial
from typing import Optional

import numpy as np
from mmengine.utils import track_iter_progress, track_parallel_progress

from segmenter3d.datasets import read_label_map, scannet_scene_to_volume
from segmenter3d.datasets.volume_dataset import read_split_file
from segmenter3d.engine.runtime import report_failures
from segmenter3d.fileio import save_npz_atomic, write_text_atomic
from segmenter3d.taxonomy import SCANNET20_CLASSES

SPLITS = dict(training='scannetv2_train.txt', validation='scannetv2_val.txt',
              test='scannetv2_test.txt')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('root', help='ScanNet v2 folder (scans/, scannetv2-labels.combined.tsv)')
    p.add_argument('--out', default='data/scannet')
    p.add_argument('--voxel-size', type=float, default=0.04, help='metres (benchmark: 0.04)')
    p.add_argument('--scenes', nargs='+', default=None, help='only these scenes')
    p.add_argument('--label-tsv', default=None,
                   help='default: ROOT/scannetv2-labels.combined.tsv')
    p.add_argument('--workers', type=int, default=1)
    p.add_argument('--overwrite', action='store_true', help='redo scenes already converted')
    return p.parse_args(argv)


def stored_voxel_size(volume_path: str, vertex_path: str) -> Optional[float]:
    """The voxel size of a scene converted before (both files there), or None."""
    if not (osp.isfile(volume_path) and osp.isfile(vertex_path)):
        return None
    try:
        with np.load(volume_path, allow_pickle=False) as room:
            return float(room['voxel_size'])
    except Exception as err:  # zip, key or value errors of a damaged file alike
        raise ValueError(f'{volume_path}: an earlier output that cannot be read '
                         f'({type(err).__name__}: {err}); pass --overwrite to redo it') from None


def convert(scene_dir: str, out: str, label_map, voxel_size: float, overwrite: bool):
    """One scene; returns its per-class voxel counts (None when skipped)."""
    name = osp.basename(osp.normpath(scene_dir))
    volume_path = osp.join(out, 'volumes', f'{name}.npz')
    vertex_path = osp.join(out, 'vertices', f'{name}.npz')
    stored = None if overwrite else stored_voxel_size(volume_path, vertex_path)
    if stored is not None:
        if np.isclose(stored, voxel_size):
            return None
        raise ValueError(f'{volume_path}: converted before at {stored:g} m voxels, '
                         f'--voxel-size is {voxel_size:g}; pass --overwrite or another --out')
    annotated = osp.isfile(osp.join(scene_dir, f'{name}.aggregation.json'))
    room, vertices = scannet_scene_to_volume(scene_dir, label_map if annotated else None,
                                             voxel_size)
    room['tsdf'] = room['tsdf'].astype(np.float16)  # +-3 voxel units: half precision is plenty
    # vertices first: a volume without its table would be taken for a finished scene
    save_npz_atomic(vertex_path, **vertices)
    save_npz_atomic(volume_path, **room)
    return np.bincount(room['labels'].ravel(), minlength=256)[:len(SCANNET20_CLASSES)]


def convert_or_error(scene_dir: str, **kwargs):
    """:func:`convert`, with a bad scene's named error returned as a string: one damaged scene
    of 1 500 must not stop the others (a bug elsewhere still raises)."""
    try:
        return convert(scene_dir, **kwargs)
    except (ValueError, OSError) as err:  # our named errors; unreadable or unwritable files
        detail = str(err) if isinstance(err, ValueError) else f'{type(err).__name__}: {err}'
        return f'{osp.basename(osp.normpath(scene_dir))}: {detail}'


def converted_at(out: str, name: str, voxel_size: float) -> bool:
    """Whether scene ``name`` has both outputs in ``out``, converted at ``voxel_size``."""
    if '/' in name:  # read_split_file refused '..'; a sub-folder is no ScanNet scene
        return False
    try:
        stored = stored_voxel_size(osp.join(out, 'volumes', f'{name}.npz'),
                                   osp.join(out, 'vertices', f'{name}.npz'))
    except ValueError:
        return False
    return stored is not None and bool(np.isclose(stored, voxel_size))


def main(argv=None) -> int:
    args = parse_args(argv)
    tsv = args.label_tsv or osp.join(args.root, 'scannetv2-labels.combined.tsv')
    try:
        label_map = read_label_map(tsv)
    except (FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    scene_dirs = sorted(d for pattern in ('scans/*', 'scans_test/*')
                        for d in glob.glob(osp.join(args.root, pattern)) if osp.isdir(d))
    if args.scenes:
        wanted = set(args.scenes)
        scene_dirs = [d for d in scene_dirs if osp.basename(d) in wanted]
        missing = wanted - {osp.basename(d) for d in scene_dirs}
        if missing:
            print(f'error: {args.root}: scenes not found: {sorted(missing)}', file=sys.stderr)
            return 1
    if not scene_dirs:
        print(f'error: {args.root}: no scene folders under scans/ or scans_test/',
              file=sys.stderr)
        return 1
    lists = {}  # the benchmark's split lists, read (and refused when malformed) up front
    try:
        for split, list_name in SPLITS.items():
            list_path = osp.join(args.root, list_name)
            if osp.isfile(list_path):
                lists[split] = [name for _, name in read_split_file(list_path, allow_empty=True)]
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    for sub in ('volumes', 'vertices', 'splits'):
        os.makedirs(osp.join(args.out, sub), exist_ok=True)
    job = partial(convert_or_error, out=args.out, label_map=label_map,
                  voxel_size=args.voxel_size, overwrite=args.overwrite)
    if args.workers > 1:
        results = track_parallel_progress(job, scene_dirs, args.workers)
    else:
        results = [job(d) for d in track_iter_progress(scene_dirs)]
    failed = [r for r in results if isinstance(r, str)]
    counts = [r for r in results if not isinstance(r, str)]
    failed_names = {osp.basename(d) for d, r in zip(scene_dirs, results) if isinstance(r, str)}
    for split, names in lists.items():
        # every scene of the list converted at this voxel size, in this run or before
        # (a run with --scenes keeps the others), and not failed now
        listed = [n for n in names
                  if n not in failed_names and converted_at(args.out, n, args.voxel_size)]
        write_text_atomic(osp.join(args.out, 'splits', f'{split}.txt'),
                          ''.join(n + '\n' for n in listed))
        print(f'{split}: {len(listed)} scenes')
    done = [c for c in counts if c is not None]
    print(f'\n{len(done)} scenes converted, {len(counts) - len(done)} already there -> {args.out}')
    if done:
        hist = np.sum(done, 0)
        total = max(int(hist.sum()), 1)
        print(f"{'class':<16}{'voxels':>12}{'share':>8}")
        for name, n in zip(SCANNET20_CLASSES, hist):
            print(f'{name:<16}{n:>12,}{n / total:>8.2%}')
    return report_failures(failed, f'{len(failed)} of {len(scene_dirs)} scenes could not be '
                           'converted (left out of the split lists; a rerun converts only what '
                           'is missing)')


if __name__ == '__main__':
    sys.exit(main())
