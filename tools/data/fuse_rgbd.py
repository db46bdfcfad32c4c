# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Fuse an RGB-D scan (ScanNet's SensReader export layout) into a labelled room volume.

    python tools/data/fuse_rgbd.py SCAN_DIR --out ROOM.npz --voxel-size 0.04 \\
        [--label-map scannetv2-labels.combined.tsv]

SCAN_DIR holds ``color/<i>.jpg``, ``depth/<i>.png`` (uint16 millimetres), ``pose/<i>.txt``
(camera-to-world), ``intrinsic/intrinsic_{depth,color}.txt`` and optionally
``label-filt/<i>.png`` or ``label/<i>.png``. Writes ROOM.npz in our room format (``tsdf`` in
voxel units, +3 where unobserved; ``rgb``; ``labels``, 255 where no frame voted; ``weight``;
``voxel_size``; ``origin``: the world position of the centre of voxel (0, 0, 0), in the poses'
frame; ``camera``: the mean scanner position), atomically and never over an input. Frames
whose pose is not finite are skipped and counted.
"""
import argparse
import os.path as osp
import sys

import numpy as np

from segmenter3d.datasets.rgbd_fusion import fuse_scan
from segmenter3d.datasets.rgbd_scan import LABEL_DIRS, ScanFolder
from segmenter3d.datasets.scannet_io import read_label_ids
from segmenter3d.engine.option_checks import check_device
from segmenter3d.fileio import check_writable, save_npz_atomic


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('scan', help='scan folder (color/, depth/, pose/, intrinsic/)')
    p.add_argument('--out', required=True, help='room file to write (.npz)')
    p.add_argument('--voxel-size', type=float, default=0.04, help='metres (default 0.04)')
    p.add_argument('--depth-scale', type=float, default=1000.0,
                   help='depth units per metre (default 1000: millimetres)')
    p.add_argument('--max-depth', type=float, default=None, help='drop depth beyond (metres)')
    p.add_argument('--frame-step', type=int, default=1, help='fuse every n-th frame')
    p.add_argument('--label-map', default=None,
                   help='scannetv2-labels.combined.tsv: raw ScanNet label ids -> 20 classes')
    p.add_argument('--bounds', type=float, nargs=6, default=None,
                   metavar=('XMIN', 'YMIN', 'ZMIN', 'XMAX', 'YMAX', 'ZMAX'),
                   help='volume extent in metres (default: the valid depth\'s extent)')
    p.add_argument('--batch-size', type=int, default=8, help='frames fused at once')
    p.add_argument('--device', default='cpu')
    p.add_argument('--overwrite', action='store_true', help='replace an existing --out')
    return p.parse_args(argv)


def check_output(out: str, scan: str, overwrite: bool) -> None:
    """The room never replaces an input: nothing inside the scan's frame folders."""
    if not out.endswith('.npz'):
        raise ValueError(f'{out}: the room is written as .npz')
    target = osp.realpath(out)
    for sub in ('color', 'depth', 'pose', 'intrinsic') + LABEL_DIRS:
        folder = osp.realpath(osp.join(scan, sub))
        if target.startswith(folder + osp.sep):
            raise ValueError(f'{out}: inside the scan\'s input folder {folder}; write the room '
                             'elsewhere')
    if osp.isdir(out):
        raise ValueError(f'{out}: is a folder; name the room file')
    if osp.exists(out) and not overwrite:
        raise ValueError(f'{out}: exists; pass --overwrite to replace it')
    check_writable(out, out)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        check_output(args.out, args.scan, args.overwrite)
        check_device(args.device)
        lut = read_label_ids(args.label_map) if args.label_map else None
        if args.label_map and osp.realpath(args.label_map) == osp.realpath(args.out):
            raise ValueError(f'{args.out}: is the label map')
        scan = ScanFolder(args.scan, args.depth_scale, args.max_depth, args.frame_step, lut)
        room = fuse_scan(scan, args.voxel_size, args.bounds,
                         num_classes=20 if lut is not None else None,
                         batch_size=args.batch_size, device=args.device)
    except (ValueError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    frames, skipped = room.pop('frames'), room.pop('skipped')
    room['tsdf'] = room['tsdf'].astype(np.float16)  # +-3 voxel units: half precision is plenty
    try:
        save_npz_atomic(args.out, **room)
    except OSError as err:  # atomic: an existing file is kept, no partial file is left
        print(f'error: {args.out}: cannot be written ({err})', file=sys.stderr)
        return 1
    unobserved = float((room['weight'] == 0).mean())
    labelled = float((room['labels'] != 255).mean())
    print(f'\n{args.out}: {frames} frames fused, {skipped} skipped (pose not finite); '
          f'{room["tsdf"].shape} voxels of {args.voxel_size} m, origin '
          f'{[round(float(o), 3) for o in room["origin"]]}; {unobserved:.1%} unobserved, '
          f'{labelled:.1%} labelled')
    return 0


if __name__ == '__main__':
    sys.exit(main())
