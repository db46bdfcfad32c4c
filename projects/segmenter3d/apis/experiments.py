# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Running the command-line tools as steps of a larger job (``make demo``, the paper tables,
the recipe study): each step is a subprocess with its own log, results are read back from
the files the tools write."""
import glob
import json
import os.path as osp
import subprocess
import sys
import time
from typing import List, Optional

#: the repository root (tools/ and configs/ live here)
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

# Lines of a tool's output worth showing on the terminal while it runs.
_SHOWN = ('Iter(val)', 'Iter(test)', 'rooms', 'Error', 'error')


def run(cmd: List[str], log: str, quiet: bool = False) -> float:
    """Run ``cmd`` in the repository root, teeing its output into ``log``; seconds taken.

    Progress lines and results are echoed (unless ``quiet``); a failure exits with the log's
    path, so the job stops at the first broken step.
    """
    if not quiet:
        print(f'\n$ {" ".join(cmd)}\n  (log: {log})', flush=True)
    start = time.time()
    with open(log, 'w') as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        for line in proc.stdout:
            f.write(line)
            if not quiet and (any(k in line for k in _SHOWN) or
                              ('Iter(train)' in line and '00/' in line)):
                print('  ' + line.rstrip()[-160:], flush=True)
        if proc.wait():
            sys.exit(f'command failed ({proc.returncode}); see {log}')
    return time.time() - start


def python_tool(script: str, *args: str) -> List[str]:
    """The command line of one of the repository's tools with this interpreter."""
    return [sys.executable, script] + list(args)


def last_metrics(test_dir: str) -> dict:
    """The metrics JSON of the latest ``tools/test.py`` run in ``test_dir`` ({} if none)."""
    results = sorted(glob.glob(osp.join(test_dir, '*', '*.json')))
    return json.load(open(results[-1])) if results else {}


def last_checkpoint(work_dir: str) -> str:
    return open(osp.join(work_dir, 'last_checkpoint')).read().strip()


def iters_options(iters: Optional[int], val_interval: Optional[int] = None) -> List[str]:
    """``--cfg-options`` that set a run's length (validation and checkpoint at its end)."""
    if not iters:
        return []
    every = val_interval or iters
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={every}',
            f'default_hooks.checkpoint.interval={every}']


def data_options(data_root: str) -> List[str]:
    return [f'{k}_dataloader.dataset.data_root={data_root}' for k in ('train', 'val', 'test')]
