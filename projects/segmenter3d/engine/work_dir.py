# Copyright (c) 3D Segmenter authors. All rights reserved.
"""A run's work dir: a guard against writing over another run, a lock against two concurrent
runs, and the cleanup of temporary files our own writer left there."""
import errno
import fcntl
import os
import os.path as osp

from ..fileio import remove_orphans


def guard_work_dir(work_dir: str, resume: bool, overwrite: bool) -> None:
    """A new run must not write over a finished or running one's checkpoints by accident."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if resume or overwrite or not osp.isfile(marker):
        return
    with open(marker) as f:
        last = f.read().strip()
    raise ValueError(f'{work_dir}: already holds a run (last checkpoint {last}); pass --resume '
                     'to continue it, --overwrite to start over in it, or another --work-dir')


_LOCKS = {}  # work dir -> open lock file, held until the process exits


def lock_work_dir(work_dir: str) -> None:
    """Take an exclusive lock on ``work_dir`` for the rest of this process.

    A second run on a busy work dir is refused at start, before it could write over the first
    run's checkpoints. The lock is ``fcntl.flock`` on ``<work_dir>/.lock``: the kernel drops
    it when the process ends, however it ends, so a killed run never leaves a stale lock.
    Only one process per job takes it (rank 0 of a distributed run). Temporary files of a
    save that a killed run left behind are removed once the lock is held.

    Raises:
        ValueError: naming the work dir, when another process holds the lock.
    """
    if int(os.environ.get('RANK', '0')) != 0:
        return
    key = osp.realpath(work_dir)
    if key in _LOCKS:
        return
    os.makedirs(work_dir, exist_ok=True)
    f = open(osp.join(work_dir, '.lock'), 'a+')
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        f.close()
        if err.errno in (errno.EAGAIN, errno.EACCES):
            raise ValueError(f'{work_dir}: another run is using this work dir (its lock '
                             f'{osp.join(work_dir, ".lock")} is held); wait for it or pass '
                             'another --work-dir') from None
        raise
    f.seek(0)
    f.truncate()
    f.write(f'{os.getpid()}\n')
    f.flush()
    _LOCKS[key] = f
    remove_orphans(work_dir)
