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


def rss_mb() -> float:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(variant: str, size: int, fused: bool, repeats: int, threads: int) -> dict:
    """Runs inside the child process."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    torch.set_num_threads(threads)
    import segmenter3d  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(HERE, '..', 'configs', '3dseg', f'3dseg-{variant}_panorooms.py'))
    cfg.model.backbone.fused_attention = fused
    cfg.model.backbone.drop_path_rate = 0.
    model = MODELS.build(cfg.model)
    x = torch.rand(1, 4, size, size, size)
    base = rss_mb()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x, mode='tensor')
    flops = counter.get_total_flops()
    fwd, fwdbwd = [], []
    for _ in range(repeats):
        with torch.no_grad():
            t = time.perf_counter()
            model(x, mode='tensor')
            fwd.append(time.perf_counter() - t)
    for _ in range(repeats):
        t = time.perf_counter()
        model(x, mode='tensor').square().mean().backward()
        fwdbwd.append(time.perf_counter() - t)
        model.zero_grad(set_to_none=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(fwd=statistics.median(fwd), fwdbwd=statistics.median(fwdbwd),
                peak_mb=peak - base, gflop=flops / 1e9)


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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--variants', nargs='+', default=['t', 'l'])
    p.add_argument('--sizes', type=int, nargs='+', default=[64, 128])
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--child', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        v, s, f = args.child.split(',')
        print(json.dumps(measure(v, int(s), f == '1', args.repeats, args.threads)))
        return
    peak = gemm_peak(args.threads)
    rows = []
    for v in args.variants:
        for s in args.sizes:
            res = {}
            for fused in (False, True):
                out = subprocess.run([sys.executable, __file__, '--child', f'{v},{s},{int(fused)}',
                                      '--repeats', str(args.repeats), '--threads',
                                      str(args.threads)], capture_output=True, text=True,
                                     check=True)
                res[fused] = json.loads(out.stdout.strip().splitlines()[-1])
            plain, fast = res[False], res[True]
            rows.append(
                f'| 3DSeg-{v.upper()} | {s}^3 | {plain["fwd"]:.2f} | {fast["fwd"]:.2f} | '
                f'{plain["fwdbwd"]:.2f} | {fast["fwdbwd"]:.2f} | '
                f'{plain["fwdbwd"] / fast["fwdbwd"]:.2f}x | {plain["peak_mb"]:.0f} | '
                f'{fast["peak_mb"]:.0f} | {fast["peak_mb"] / max(plain["peak_mb"], 1):.2f} | '
                f'{fast["gflop"] / fast["fwd"]:.1f} '
                f'({100 * fast["gflop"] / fast["fwd"] / peak:.0f}%) |')
            print(rows[-1], flush=True)
    machine = (f'{platform.processor() or platform.machine()}, {args.threads} threads, '
               f'torch {__import__("torch").__version__}, fp32 GEMM peak {peak:.0f} GFLOP/s')
    header = ('| model | input | fwd plain (s) | fwd fused (s) | fwd+bwd plain (s) | '
              'fwd+bwd fused (s) | fwd+bwd speed-up | peak MB plain | peak MB fused | '
              'memory ratio | fused fwd GFLOP/s (% of GEMM peak) |\n' + '|---' * 11 + '|')
    text = (f'\n## backbone.py, {time.strftime("%Y-%m-%d")}\n\n{machine}; medians of '
            f'{args.repeats}, batch 1.\n\n{header}\n' + '\n'.join(rows) + '\n')
    print(text)
    with open(osp.join(HERE, 'RESULTS.md'), 'a') as f:
        f.write(text)


if __name__ == '__main__':
    main()
