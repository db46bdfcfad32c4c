# Copyright (c) 3D Segmenter authors. All rights reserved.
"""3D Segmenter speed and memory: fused (SDPA) vs plain attention, per variant and size.

    python benchmarks/backbone.py [--variants t l] [--sizes 64 128] [--repeats 3]

Each measurement runs in a fresh process (peak memory = that process's peak RSS minus its RSS
before the model ran). Prints a table and appends it to benchmarks/RESULTS.md with the machine.
"""
import argparse
import json
import os
import os.path as osp
import platform
import resource
import statistics
import subprocess
import sys
import time

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
from peers import PEERS, available, build_peer  # noqa: E402


def rss_mb() -> float:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return 0.0


def build(variant: str, fused: bool):
    """(model, forward) of a 3DSeg variant, or of a peer when ``variant`` names one."""
    if variant in PEERS:
        net = build_peer(variant)
        return net, net
    import segmenter3d  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(HERE, '..', 'configs', '3dseg', f'3dseg-{variant}_panorooms.py'))
    cfg.model.backbone.fused_attention = fused
    cfg.model.backbone.drop_path_rate = 0.
    model = MODELS.build(cfg.model)
    return model, lambda x: model(x, mode='tensor')


def measure(variant: str, size: int, fused: bool, repeats: int, threads: int) -> dict:
    """Runs inside the child process."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    torch.set_num_threads(threads)
    model, forward = build(variant, fused)
    x = torch.rand(1, 4, size, size, size)
    base = rss_mb()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        forward(x)
    flops = counter.get_total_flops()
    fwd, fwdbwd = [], []
    for _ in range(repeats):
        with torch.no_grad():
            t = time.perf_counter()
            forward(x)
            fwd.append(time.perf_counter() - t)
    for _ in range(repeats):
        t = time.perf_counter()
        forward(x).square().mean().backward()
        fwdbwd.append(time.perf_counter() - t)
        model.zero_grad(set_to_none=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(fwd=statistics.median(fwd), fwdbwd=statistics.median(fwdbwd),
                peak_mb=peak - base, gflop=flops / 1e9,
                params=sum(p.numel() for p in model.parameters()))


def gemm_peak(threads: int) -> float:
    import torch
    torch.set_num_threads(threads)
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    a @ b
    times = []
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * 2048**3 / min(times) / 1e9


def peers_table(child, ours, sizes, peak) -> str:
    """Our fused variants next to MONAI's networks on the same inputs."""
    rows = []
    for s in sizes:
        entries = [(f'3DSeg-{v.upper()}', r) for (v, size), r in ours.items() if size == s]
        entries += [(name, child(name, s, True)) for name in PEERS]
        for name, r in entries:
            rate = r['gflop'] / r['fwd']
            rows.append(f'| {name} | {s}^3 | {r["params"]:,} | {r["fwd"]:.2f} | '
                        f'{r["fwdbwd"]:.2f} | {r["peak_mb"]:.0f} | '
                        f'{rate:.1f} ({100 * rate / peak:.0f}%) |')
            print(rows[-1], flush=True)
    return ('\nPeers (MONAI defaults, 30 classes, random weights):\n\n| model | input | '
            'parameters | fwd (s) | fwd+bwd (s) | peak MB | fwd GFLOP/s (% of GEMM peak) |\n' +
            '|---' * 7 + '|\n' + '\n'.join(rows) + '\n')


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--variants', nargs='+', default=['t', 'l'])
    p.add_argument('--sizes', type=int, nargs='+', default=[64, 128])
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--no-peers', action='store_true', help='skip the MONAI peers')
    p.add_argument('--child', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        v, s, f = args.child.split(',')
        mode = {'0': False, '1': True, 'lm': 'low_memory'}[f]
        print(json.dumps(measure(v, int(s), mode, args.repeats, args.threads)))
        return
    peak = gemm_peak(args.threads)

    def child(variant, size, fused):
        flag = 'lm' if fused == 'low_memory' else str(int(fused))
        out = subprocess.run([sys.executable, __file__, '--child', f'{variant},{size},{flag}',
                              '--repeats', str(args.repeats), '--threads', str(args.threads)],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    rows, ours = [], {}
    for v in args.variants:
        for s in args.sizes:
            plain, fast, low = child(v, s, False), child(v, s, True), child(v, s, 'low_memory')
            # torch's FLOP counter skips the fused kernel: both do the plain model's work
            fast['gflop'] = plain['gflop']
            ours[(v, s)] = fast
            rows.append(
                f'| 3DSeg-{v.upper()} | {s}^3 | {plain["fwd"]:.2f} | {fast["fwd"]:.2f} | '
                f'{plain["fwdbwd"]:.2f} | {fast["fwdbwd"]:.2f} | '
                f'{plain["fwdbwd"] / fast["fwdbwd"]:.2f}x | {plain["peak_mb"]:.0f} | '
                f'{fast["peak_mb"]:.0f} | {fast["peak_mb"] / max(plain["peak_mb"], 1):.2f} | '
                f'{fast["gflop"] / fast["fwd"]:.1f} '
                f'({100 * fast["gflop"] / fast["fwd"] / peak:.0f}%) | {low["fwdbwd"]:.2f} | '
                f'{plain["fwdbwd"] / low["fwdbwd"]:.2f}x | {low["peak_mb"]:.0f} | '
                f'{low["peak_mb"] / max(plain["peak_mb"], 1):.2f} |')
            print(rows[-1], flush=True)
    machine = (f'{platform.processor() or platform.machine()}, {args.threads} threads, '
               f'torch {__import__("torch").__version__}, fp32 GEMM peak {peak:.0f} GFLOP/s')
    header = ('| model | input | fwd plain (s) | fwd fused (s) | fwd+bwd plain (s) | '
              'fwd+bwd fused (s) | fwd+bwd speed-up | peak MB plain | peak MB fused | '
              'memory ratio | fused fwd GFLOP/s (% of GEMM peak) | fwd+bwd low-memory (s) | '
              'low-memory speed-up | peak MB low-memory | low-memory ratio |\n' + '|---' * 15 +
              '|')
    text = (f'\n## backbone.py, {time.strftime("%Y-%m-%d")}\n\n{machine}; medians of '
            f'{args.repeats}, batch 1.\n\n{header}\n' + '\n'.join(rows) + '\n')
    if available() and not args.no_peers:
        text += peers_table(child, ours, args.sizes, peak)
    print(text)
    with open(osp.join(HERE, 'RESULTS.md'), 'a') as f:
        f.write(text)


if __name__ == '__main__':
    main()
