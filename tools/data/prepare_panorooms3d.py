# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Check a downloaded PanoRooms3D copy and write the split files the configs read.

    python tools/data/prepare_panorooms3d.py data/panorooms3d [--validate]

Expects ``volumes/<room>.npz`` (``sdf128``, ``color128``, ``semanticlabel``),
``images/<split>/<room>.jpg``, ``annotations/<split>/<room>.png`` and split lists
``splits/<split>.txt`` (``training``/``validation``/``test``; ``train``/``val`` are accepted).
Reports every room whose volume or panorama is missing (or, with ``--validate``, unreadable),
writes ``splits/<split>.txt`` with the complete rooms only (the originals are kept as
``splits/<split>.orig.txt``) and ``dataset_info.json`` with the counts.
"""
import argparse
import json
import os.path as osp
import shutil
import sys

from mmengine.utils import track_iter_progress

from segmenter3d.datasets import load_room
from segmenter3d.datasets.volume_dataset import read_split_file
from segmenter3d.fileio import is_inside, write_text_atomic

SPLITS = {'training': ('training', 'train'), 'validation': ('validation', 'val'),
          'test': ('test', )}


def _split_file(root: str, split: str):
    for name in SPLITS[split]:
        for candidate in (f'{name}.orig.txt', f'{name}.txt'):
            path = osp.join(root, 'splits', candidate)
            if osp.isfile(path):
                return path
    return None


def check(root: str, validate: bool = False, img_suffix: str = '.jpg') -> dict:
    if not osp.isdir(root):
        raise FileNotFoundError(f'{root}: dataset folder not found')
    info = dict(root=osp.abspath(root), splits={}, problems={})
    for split in SPLITS:
        path = _split_file(root, split)
        if path is None:
            info['problems'][f'splits/{split}.txt'] = 'split file missing'
            continue
        names = [name for _, name in read_split_file(path, allow_empty=True)]  # untrusted
        complete = []
        for name in track_iter_progress(names) if validate else names:
            files = dict(volume=osp.join(root, 'volumes', f'{name}.npz'),
                         image=osp.join(root, 'images', split, name + img_suffix),
                         annotation=osp.join(root, 'annotations', split, f'{name}.png'))
            missing = [k for k, p in files.items() if not osp.isfile(p)]
            if missing:
                info['problems'][name] = f'missing {", ".join(missing)}'
                continue
            # a room file linked out of its folder (an archive may carry such links) is not
            # part of this copy; linked folders (volumes/ on another disk) are a layout
            outside = [p for p in files.values() if not is_inside(p, [osp.dirname(p)])]
            if outside:
                info['problems'][name] = (f'{outside[0]} leads outside its folder (to '
                                          f'{osp.realpath(outside[0])})')
                continue
            if validate:
                try:
                    load_room(files['volume'])
                except (ValueError, FileNotFoundError) as err:
                    info['problems'][name] = str(err)
                    continue
            complete.append(name)
        info['splits'][split] = dict(listed=len(names), complete=len(complete), source=path)
        info['splits'][split]['rooms'] = complete
    return info


def write(root: str, info: dict) -> None:
    for split, s in info['splits'].items():
        target = osp.join(root, 'splits', f'{split}.txt')
        keep = osp.join(root, 'splits', f'{split}.orig.txt')
        if not osp.isfile(keep):
            shutil.copyfile(s['source'], keep)
        write_text_atomic(target, ''.join(f'{n}\n' for n in s['rooms']))
    summary = {k: v for k, v in info.items()}
    summary['splits'] = {k: {kk: vv for kk, vv in v.items() if kk != 'rooms'}
                         for k, v in info['splits'].items()}
    write_text_atomic(osp.join(root, 'dataset_info.json'), json.dumps(summary, indent=2))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('root')
    p.add_argument('--validate', action='store_true', help='also open and check every volume')
    p.add_argument('--img-suffix', default='.jpg')
    args = p.parse_args(argv)
    try:
        info = check(args.root, args.validate, args.img_suffix)
    except (FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    for split, s in info['splits'].items():
        print(f"{split:<11} {s['complete']:>6} complete of {s['listed']:>6} listed")
    for name, problem in sorted(info['problems'].items())[:50]:
        print(f'  {name}: {problem}')
    if len(info['problems']) > 50:
        print(f"  ... and {len(info['problems']) - 50} more (see dataset_info.json)")
    if not info['splits']:
        print('error: no split file found under splits/', file=sys.stderr)
        return 1
    empty = [split for split, s in info['splits'].items() if s['listed'] and not s['complete']]
    if empty:  # rewriting the list would leave nothing to train or test on
        print(f'error: {args.root}: no room of splits/{empty[0]} is complete (problems above); '
              'the split files are left as they are', file=sys.stderr)
        return 1
    write(args.root, info)
    print(f"wrote {args.root}/splits/<split>.txt and {args.root}/dataset_info.json")
    return 0


if __name__ == '__main__':
    sys.exit(main())
