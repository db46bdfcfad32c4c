# Copyright (c) 3D Segmenter authors. All rights reserved.
"""3D Segmenter speed and memory against a plain implementation of the same network.

    python benchmarks/backbone.py [--variants t l] [--sizes 64 128] [--repeats 3]

"plain" is ``segmenter3d.testing.reference_net``: the network written the straightforward way (Video
Swin's explicit softmax with per-window shift masks, trilinear upsampling, concatenation and a
per-voxel linear), loaded with the same weights as ours (the outputs are checked to agree before
timing). A training step is forward, cross entropy against random labels (``F.cross_entropy``
for plain, the configured ``ChunkedCrossEntropyLoss`` for ours), backward. Each
measurement runs in a fresh process; peak memory is that process's peak RSS minus its RSS before
the model ran. Prints a table and records it, with the machine, in its section of
benchmarks/RESULTS.md.
"""
import argparse
import json
import os.path as osp
import platform
import resource
import statistics
import subprocess
import sys
import time

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
from measure import add_benchmark_arguments, record, rss_mb  # noqa: E402
from peers import PEERS, available, build_peer  # noqa: E402

IMPLS = ('plain', 'ours')


def build(variant: str, impl: str):
    """(forward, module, loss) of a network mapping (1, 4, D, H, W) to (1, 30, D, H, W)
    logits, random weights (seed 0); ``loss(logits, labels)`` is its training loss."""
    import torch
    import torch.nn.functional as F

    def plain_loss(logits, labels):
        return F.cross_entropy(logits, labels, ignore_index=255)

    if impl in PEERS:
        peer = build_peer(impl)
        return peer, peer, plain_loss
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import segmenter3d  # noqa: F401
    from segmenter3d.models.backbones.swin3d_convert import ours_to_reference
    from segmenter3d.testing import REFERENCE_VARIANTS, ReferenceSegmenter3D
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(HERE, '..', 'configs', '3dseg',
                                   f'3dseg-{variant}_8xb1-80k_panorooms-128.py'))
    cfg.model.backbone.drop_path_rate = 0.
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if impl == 'ours':
        head = model.decode_head
        return (lambda x: model(x, mode='tensor'), model,
                lambda logits, labels: head.loss_decode(logits, labels, ignore_index=255))
    plain = ReferenceSegmenter3D(*REFERENCE_VARIANTS[variant])
    plain.load_state_dict(ours_to_reference(model.state_dict()))
    return plain, plain, plain_loss


def measure(variant: str, size: int, impl: str, repeats: int, threads: int) -> dict:
    """Runs inside the child process."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    torch.set_num_threads(threads)
    forward, module, loss = build(variant, impl)
    torch.manual_seed(1)
    x = torch.rand(1, 4, size, size, size) * 2 - 1
    labels = torch.randint(0, 30, (1, size, size, size))
    base = rss_mb()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        forward(x)
    fwd, step = [], []
    for _ in range(repeats):
        with torch.no_grad():
            t = time.perf_counter()
            forward(x)
            fwd.append(time.perf_counter() - t)
    for _ in range(repeats):
        t = time.perf_counter()
        loss(forward(x), labels).backward()
        step.append(time.perf_counter() - t)
        module.zero_grad(set_to_none=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(fwd=statistics.median(fwd), step=statistics.median(step), peak_mb=peak - base,
                gflop=counter.get_total_flops() / 1e9,
                params=sum(p.numel() for p in module.parameters()))


def agreement(variant: str) -> float:
    """Max |logit difference| between ours and plain on a 40 x 48 x 56 input."""
    import torch
    ours = build(variant, 'ours')[0]
    plain = build(variant, 'plain')[0]
    x = torch.rand(1, 4, 40, 48, 56) * 2 - 1
    with torch.no_grad():
        return (ours(x) - plain(x)).abs().max().item()


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
    add_benchmark_arguments(p)
    args = p.parse_args()
    if args.child:
        v, s, impl = args.child.split(',')
        print(json.dumps(measure(v, int(s), impl, args.repeats, args.threads)))
        return

    def child(variant, size, impl):
        out = subprocess.run([sys.executable, __file__, '--child', f'{variant},{size},{impl}',
                              '--repeats', str(args.repeats), '--threads', str(args.threads)],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    peak = gemm_peak(args.threads)
    rows, peer_rows = [], []
    for v in args.variants:
        diff = agreement(v)
        for s in args.sizes:
            plain, ours = (child(v, s, impl) for impl in IMPLS)
            flops = plain['gflop']  # torch's FLOP counter skips the fused kernel
            rows.append(
                f'| 3DSeg-{v.upper()} | {s}^3 | {plain["fwd"]:.2f} | {ours["fwd"]:.2f} | '
                f'{plain["fwd"] / ours["fwd"]:.2f}x | {plain["step"]:.2f} | {ours["step"]:.2f} | '
                f'**{plain["step"] / ours["step"]:.2f}x** | {plain["peak_mb"]:.0f} | '
                f'{ours["peak_mb"]:.0f} | **{ours["peak_mb"] / max(plain["peak_mb"], 1):.2f}** | '
                f'{flops / ours["fwd"]:.1f} ({100 * flops / ours["fwd"] / peak:.0f}%) | '
                f'{diff:.1e} |')
            print(rows[-1], flush=True)
            peer_rows.append((f'3DSeg-{v.upper()}', s, dict(ours, gflop=flops)))
    machine = (f'{platform.processor() or platform.machine()}, {args.threads} threads, '
               f'torch {__import__("torch").__version__}, fp32 GEMM peak {peak:.0f} GFLOP/s')
    header = ('| model | input | fwd plain (s) | fwd ours (s) | fwd speed-up | train step plain '
              '(s) | train step ours (s) | step speed-up | peak MB plain | peak MB ours | '
              'memory ratio | ours fwd GFLOP/s (% of GEMM peak) | max logit diff |\n' +
              '|---' * 13 + '|')
    text = (f'\n## backbone.py: a training step and inference on one block\n\n'
            f'{time.strftime("%Y-%m-%d")}. {machine}; medians of '
            f'{args.repeats}, batch 1. Command: `python benchmarks/backbone.py --variants '
            f'{" ".join(args.variants)} --sizes {" ".join(map(str, args.sizes))} --repeats '
            f'{args.repeats}`\n\n{header}\n' + '\n'.join(rows) + '\n')
    if available() and not args.no_peers:
        for name in PEERS:
            for s in args.sizes:
                peer_rows.append((name, s, child('-', s, name)))
        lines = []
        for name, s, r in peer_rows:
            rate = r['gflop'] / r['fwd']
            lines.append(f'| {name} | {s}^3 | {r["params"]:,} | {r["fwd"]:.2f} | '
                         f'{r["step"]:.2f} | {r["peak_mb"]:.0f} | '
                         f'{rate:.1f} ({100 * rate / peak:.0f}%) |')
        text += ('\nPeers (MONAI defaults, 30 classes, random weights):\n\n| model | input | '
                 'parameters | fwd (s) | train step (s) | peak MB | fwd GFLOP/s (% of GEMM '
                 'peak) |\n' + '|---' * 7 + '|\n' + '\n'.join(lines) + '\n')
    record(text)


if __name__ == '__main__':
    main()
