# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Whole-room inference: every 3DSeg variant against UNet3D, the sparse U-Net and SwinUNETR on
the same generated rooms (the paper's complexity table: seconds and parameters).

    python benchmarks/rooms.py [--rooms 20 --voxel-size 0.08]

Rooms come in three sizes (sides clamped to 4, 6 and 8 m) so the table also shows how time
grows with room volume. MONAI's BasicUNet and SwinUNETR run too when MONAI is installed. Each
model runs in its own process with the same thread count (random weights: speed only), smallest
rooms first, so the process's peak RSS after each room size (minus its RSS before inference) is
the peak up to that size.
Records the table in its section of benchmarks/RESULTS.md.
"""
import argparse
import json
import os.path as osp
import resource
import subprocess
import sys
import time

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
from measure import add_benchmark_arguments, record, rss_mb  # noqa: E402
from peers import PEERS, available, build_peer  # noqa: E402

MODELS = {
    '3DSeg-T': '3dseg/3dseg-t_8xb1-80k_panorooms-128.py',
    '3DSeg-B': '3dseg/3dseg-b_8xb1-80k_panorooms-128.py',
    '3DSeg-M': '3dseg/3dseg-m_8xb1-80k_panorooms-128.py',
    '3DSeg-L': '3dseg/3dseg-l_panorooms.py',
    'UNet3D': 'unet3d/unet3d_panorooms.py',
    # the models of the baseline comparison (studies/baseline_study.py), as trained there
    '3DSeg-T, patch 2 (comparison)': '3dseg/3dseg-t_1xb2-3k_synthrooms-32.py',
    'UNet3D, base 16 (comparison)': 'unet3d/unet3d_1xb2-3k_synthrooms-32.py',
    'SparseUNet3D (comparison)': 'sparseunet/sparseunet_1xb2-3k_synthrooms-32.py',
    'SwinUNETR, feature 12 (comparison)': 'swinunetr/swinunetr_1xb2-3k_synthrooms-32.py',
}
EXTENTS = (4.0, 6.0, 8.0)
# The paper's complexity table: CPU seconds of inference over its 20 test rooms (its rooms and
# machine, not these; the ratios between rows are what compare).
PAPER_SECONDS = {'3DSeg-T': 43.62, '3DSeg-B': 44.79, '3DSeg-M': 61.08, '3DSeg-L': 95.89,
                 'UNet3D': 254.75}


def rooms(n: int, voxel_size: float):
    from segmenter3d.datasets import room_to_input
    from segmenter3d.synthrooms import generate_room
    out = []
    for i in range(n):
        room = generate_room(1000 + i, voxel_size=voxel_size, max_extent=EXTENTS[i % 3])
        data = dict(tsdf=room.tsdf, rgb=room.rgb, observed=room.tsdf < 3)
        out.append((EXTENTS[i % 3], room_to_input(data)))
    return out


def build(name: str):
    """(model, whole-room forward) of one of ours or a MONAI peer."""
    if name in PEERS:
        net = build_peer(name)
        return net, net
    from mmengine.config import Config

    from segmenter3d.apis import init_segmentor
    cfg = Config.fromfile(osp.join(HERE, '..', 'configs', MODELS[name]))
    cfg.model.test_cfg = dict(mode='whole')
    model = init_segmentor(cfg)
    return model, model.inference


def child(name: str, n: int, voxel_size: float, threads: int) -> dict:
    import torch
    torch.set_num_threads(threads)
    model, forward = build(name)
    # smallest rooms first: the process's peak memory after each size is that size's peak
    data = sorted(rooms(n, voxel_size), key=lambda r: r[0])
    per_size = {e: [0.0, 0] for e in EXTENTS}
    peak, base = {}, rss_mb()
    with torch.no_grad():
        forward(torch.from_numpy(data[0][1])[None])  # warm-up
        for extent, volume in data:
            x = torch.from_numpy(volume)[None]
            t = time.perf_counter()
            forward(x)
            per_size[extent][0] += time.perf_counter() - t
            per_size[extent][1] += volume[0].size
            peak[str(extent)] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    return dict(total=sum(t for t, _ in per_size.values()), peak_mb=max(peak.values()),
                params=sum(p.numel() for p in model.parameters()),
                per_size={str(e): (t / max(v, 1) * 1e6) for e, (t, v) in per_size.items()},
                voxels={str(e): v for e, (t, v) in per_size.items()}, peak_by_size=peak)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rooms', type=int, default=20)
    p.add_argument('--voxel-size', type=float, default=0.08)
    add_benchmark_arguments(p)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.rooms, args.voxel_size, args.threads)))
        return
    res = {}
    names = list(MODELS) + (list(PEERS) if available() and not args.no_peers else [])
    for name in names:
        out = subprocess.run([sys.executable, __file__, '--child', name, '--rooms', str(args.rooms),
                              '--voxel-size', str(args.voxel_size), '--threads',
                              str(args.threads)], capture_output=True, text=True, check=True)
        res[name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(name, res[name], flush=True)
    unet = res['UNet3D']['total']
    paper = {n: f'{PAPER_SECONDS[n]:.2f} ({PAPER_SECONDS["UNet3D"] / PAPER_SECONDS[n]:.2f}x)'
             for n in PAPER_SECONDS}
    rows = [f"| {n} | {r['params']:,} | {r['total']:.1f} | {unet / r['total']:.2f}x | "
            f"{paper.get(n, '—')} | " +
            ' | '.join(f"{r['per_size'][str(e)]:.2f}" for e in EXTENTS) + ' | ' +
            ' / '.join(f"{r['peak_by_size'][str(e)]:.0f}" for e in EXTENTS) + ' |'
            for n, r in res.items()]
    vox = res['UNet3D']['voxels']
    header = ('| model | parameters | total (s) | speed-up vs UNet3D | paper CPU s (speed-up) | ' +
              ' | '.join(f'us/voxel, {e:.0f} m rooms ({vox[str(e)] / 1e6:.1f} M voxels)'
                         for e in EXTENTS) +
              ' | peak MB over the model, after the 4 / 6 / 8 m rooms |\n' +
              '|---' * (6 + len(EXTENTS)) + '|')
    text = (f'\n## rooms.py: whole-room inference\n\n'
            f'{time.strftime("%Y-%m-%d")}. {args.rooms} generated rooms at '
            f'{args.voxel_size * 100:.0f} cm (sides clamped to 4/6/8 m), whole-room inference, '
            f'batch 1, {args.threads} threads, random weights.\n\nCommand: `python '
            f'benchmarks/rooms.py --rooms {args.rooms} --voxel-size {args.voxel_size}`\n\n'
            f'{header}\n' + '\n'.join(rows) + '\n')
    record(text)


if __name__ == '__main__':
    main()
