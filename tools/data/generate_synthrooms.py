# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Generate procedural furnished rooms in the PanoRooms3D layout (the embedded default data).

    python tools/data/generate_synthrooms.py --out data/synthrooms --num-rooms 100
"""
import argparse
import sys

from segmenter3d.synthrooms import generate_dataset
from segmenter3d.taxonomy import PANOROOMS3D_CLASSES


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Generate procedural rooms (TSDF + RGB + labels + '
                                'panoramas) in the PanoRooms3D layout.')
    p.add_argument('--out', default='data/synthrooms', help='output folder')
    p.add_argument('--num-rooms', type=int, default=100)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--voxel-size', type=float, default=0.04, help='metres (paper: 0.04)')
    p.add_argument('--pano-size', type=int, nargs=2, default=(512, 1024), metavar=('H', 'W'))
    p.add_argument('--split', type=float, nargs=3, default=(0.8, 0.1, 0.1),
                   metavar=('TRAIN', 'VAL', 'TEST'))
    p.add_argument('--max-extent', type=float, default=None,
                   help='clamp room sides to this many metres (small CPU demos)')
    p.add_argument('--scan-cameras', type=int, default=0,
                   help='simulate a scan with this many eye-level cameras (0: complete rooms)')
    p.add_argument('--scan-frames', type=int, default=0,
                   help='render this many RGB-D + label frames per room from random eye-level '
                   'poses and store their TSDF fusion (0: exact rooms); per-room unobserved '
                   'shares go to OUT/scans.json')
    p.add_argument('--depth-noise', type=float, default=0.0,
                   help='Gaussian depth noise of the scan frames, metres (with --scan-frames)')
    p.add_argument('--workers', type=int, default=1)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not args.out:
        sys.exit('error: --out is empty; name the output folder')
    try:
        summary = generate_dataset(args.out, args.num_rooms, seed=args.seed,
                                   voxel_size=args.voxel_size, pano_size=tuple(args.pano_size),
                                   split_ratios=args.split, workers=args.workers,
                                   max_extent=args.max_extent, scan_cameras=args.scan_cameras,
                                   scan_frames=args.scan_frames, depth_noise=args.depth_noise)
    except ValueError as err:
        sys.exit(f'error: {err}')
    except OSError as err:  # a folder or file that cannot be made (under a file, too long)
        sys.exit(f'error: {err.filename or args.out}: cannot be written '
                 f'({err.strerror or err})')
    print(f"\n{summary['rooms']} rooms ({summary['skipped']} already complete) in {args.out}: "
          f"{summary['per_split']}, {summary['voxels']:,} voxels")
    if args.scan_frames:
        import json
        import os.path as osp
        with open(osp.join(args.out, 'scans.json')) as f:
            scans = json.load(f)['summary']
        print(f"scanned with {args.scan_frames} frames: {scans['mean_unobserved']:.1%} of voxels "
              f"and {scans['mean_unobserved_surface']:.1%} of the surface band unobserved; "
              f"frames rendered in {scans['mean_render_seconds']:.2f} s and fused in "
              f"{scans['mean_fusion_seconds']:.2f} s per room")
    hist = summary['hist']
    total = hist.sum()
    print(f"{'class':<22}{'voxels':>12}{'share':>8}")
    for i, name in enumerate(PANOROOMS3D_CLASSES):
        if hist[i]:
            print(f'{name:<22}{hist[i]:>12,}{hist[i] / total:>8.2%}')


if __name__ == '__main__':
    main()
