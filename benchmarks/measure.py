# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Helpers the benchmark scripts share."""


def rss_mb() -> float:
    """This process's resident memory now, in MB (peak: ``resource.getrusage``)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return 0.0


def record(text: str) -> None:
    """Print a benchmark's result table and append it to benchmarks/RESULTS.md."""
    import os.path as osp
    print(text)
    with open(osp.join(osp.dirname(osp.abspath(__file__)), 'RESULTS.md'), 'a') as f:
        f.write(text)


def add_benchmark_arguments(parser) -> None:
    """Options every benchmark takes: threads, skipping the MONAI peers, the child mode in
    which one measurement runs in a fresh process (so peak memory is its own)."""
    import argparse
    import os
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--no-peers', action='store_true', help='skip the MONAI peers')
    parser.add_argument('--child', help=argparse.SUPPRESS)
