# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Helpers the benchmark scripts share."""


def rss_mb() -> float:
    """This process's resident memory now, in MB (peak: ``resource.getrusage``)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return 0.0
