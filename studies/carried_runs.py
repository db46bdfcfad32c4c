# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Unfinished curve runs carried from one machine to the next, in the repository.

A long curve run (``baseline_study.py curves --scale 8``: about four hours of one core) outlives
a working session, and the next session may start on a new machine whose ``work_dirs`` is
empty. ``baseline_study.py park`` copies what resumes each stopped run into
``benchmarks/unfinished/curves-x<N>/<model>/seed<k>/``:

* the last checkpoint, byte for byte (weights, optimizer, schedulers, message hub: the resume
  is exact);
* the best checkpoint so far, weights only (it is only tested, never resumed);
* every segment's validation log (``<timestamp>/vis_data/scalars.json``: the curve) and the
  run's ``curve_state.json`` (options, seconds of each segment);
* ``manifest.json``: each file's SHA-256 and the digest of the rooms the run trained on.

The ``curves`` stage restores a parked run into its work dir when that holds no run yet, and
trains on from there. A finished run's parked copy is removed by the next ``park``: its record
is in ``benchmarks/baselines.json``.

A parked run is untrusted input: the manifest may name only plain files, every digest is
checked before anything is copied, the rooms must be the ones it trained on, and its
checkpoints are read by the weights-only loader (:mod:`segmenter3d.checkpoint_io`) alone.
"""
import glob
import hashlib
import json
import os
import os.path as osp
import re
import shutil
from typing import Dict, List, Optional

from studies import experiments

UNFINISHED = osp.join(experiments.ROOT, 'benchmarks', 'unfinished')
MANIFEST = 'manifest.json'
STATE = 'curve_state.json'
# names a parked run may hold: checkpoints, the state, and logs renamed <timestamp>.scalars.json
_PLAIN_NAME = re.compile(r'^(iter_\d+\.pth|best_mIoU_iter_\d+\.pth|curve_state\.json|'
                         r'\d{8}_\d{6}\.scalars\.json)$')


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def rooms_digest(data: str) -> str:
    """A digest of the rooms under ``data`` (split lists and room arrays, not the zip
    metadata of ``.npz`` files, whose timestamps differ between two generations of the same
    rooms)."""
    import numpy as np
    digest = hashlib.sha256()
    files = sorted(glob.glob(osp.join(data, '**', '*'), recursive=True))
    for path in files:
        if not osp.isfile(path) or path.endswith(('.png', '.log', '.ply')):
            continue
        digest.update(osp.relpath(path, data).encode() + b'\0')
        if path.endswith('.npz'):
            with np.load(path, allow_pickle=False) as arrays:
                for key in sorted(arrays.files):
                    value = np.ascontiguousarray(arrays[key])
                    digest.update(f'{key}:{value.dtype.str}:{value.shape}'.encode())
                    digest.update(value.tobytes())
        else:
            digest.update(open(path, 'rb').read())
    return digest.hexdigest()


def _strip_to_weights(src: str, dst: str) -> None:
    """``src``'s weights (and meta) alone into ``dst``: what testing reads of a checkpoint."""
    import torch

    from segmenter3d.checkpoint_io import load_checkpoint_file
    ckpt = load_checkpoint_file(src)
    torch.save({'meta': ckpt.get('meta', {}), 'state_dict': ckpt['state_dict']}, dst)


def park_run(run_dir: str, target: str, rooms: str) -> Optional[int]:
    """Copy the resume state of the stopped run in ``run_dir`` to ``target`` (replacing an
    older copy only once the new one is complete); the iteration it resumes from, or None
    when the run has no checkpoint yet.

    Raises:
        RuntimeError: the run is training now (or was killed outright): stop it through its
            driver first, so that its last checkpoint is its last iteration.
    """
    state_path = osp.join(run_dir, STATE)
    state = json.load(open(state_path))
    if 'running_since' in state:
        raise RuntimeError(f'{state_path}: the run is training (or was killed without '
                           'saving); stop it through its driver (SIGTERM) before parking it')
    if not osp.isfile(osp.join(run_dir, 'last_checkpoint')):
        return None
    last = experiments.last_checkpoint(run_dir)
    if not osp.isabs(last) and not osp.isfile(last):
        last = osp.join(run_dir, osp.basename(last))
    building = f'{target}.parking'
    shutil.rmtree(building, ignore_errors=True)
    os.makedirs(building)
    shutil.copyfile(last, osp.join(building, osp.basename(last)))
    shutil.copyfile(state_path, osp.join(building, STATE))
    for best in glob.glob(osp.join(run_dir, 'best_mIoU_iter_*.pth')):
        _strip_to_weights(best, osp.join(building, osp.basename(best)))
    for log in glob.glob(osp.join(run_dir, '*', 'vis_data', 'scalars.json')):
        stamp = osp.basename(osp.dirname(osp.dirname(log)))
        shutil.copyfile(log, osp.join(building, f'{stamp}.scalars.json'))
    names = sorted(os.listdir(building))
    iteration = int(re.search(r'iter_(\d+)\.pth$', last).group(1))
    experiments.write_json(osp.join(building, MANIFEST), dict(
        iteration=iteration, last_checkpoint=osp.basename(last), rooms=rooms,
        files={n: _sha256(osp.join(building, n)) for n in names}))
    shutil.rmtree(target, ignore_errors=True)
    os.rename(building, target)
    return iteration


def park(out: str, key: str, data: str, dest: str = UNFINISHED) -> Dict[str, str]:
    """Park every stopped run under ``out/key`` (``key``: ``curves-xN``) into ``dest/key``;
    a finished run's parked copy is removed. What happened to each run, by ``model/seedK``."""
    done, rooms = {}, None
    for run_dir in sorted(glob.glob(osp.join(out, key, '*', 'seed*'))):
        if not osp.isfile(osp.join(run_dir, STATE)):
            continue
        model, seed = run_dir.split(os.sep)[-2:]
        target = osp.join(dest, key, model, seed)
        if osp.isfile(osp.join(run_dir, 'record_curve.json')):
            if osp.isdir(target):
                shutil.rmtree(target)
                done[f'{model}/{seed}'] = 'finished: its parked copy removed'
            continue
        rooms = rooms or rooms_digest(data)
        iteration = park_run(run_dir, target, rooms)
        done[f'{model}/{seed}'] = (f'parked at iteration {iteration}' if iteration is not None
                                   else 'no checkpoint yet: nothing to park')
    return done


def _manifest(parked: str) -> dict:
    path = osp.join(parked, MANIFEST)
    try:
        manifest = json.load(open(path))
        files, last = manifest['files'], manifest['last_checkpoint']
        if not isinstance(files, dict) or last not in files:
            raise ValueError('files must map each file to its SHA-256, last_checkpoint among '
                             'them')
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f'{path}: not a parked run\'s manifest ({type(err).__name__}: '
                         f'{err})') from None
    for name in files:
        if not isinstance(name, str) or not _PLAIN_NAME.match(name):
            raise ValueError(f'{path}: files: {name!r} is not a file a parked run holds '
                             '(checkpoints, curve_state.json, <timestamp>.scalars.json)')
    if STATE not in files:
        raise ValueError(f'{path}: files: {STATE} is missing')
    return manifest


def restore(parked: str, run_dir: str, data: str) -> Optional[int]:
    """Restore the run parked in ``parked`` into ``run_dir`` when ``run_dir`` holds no run
    (no ``curve_state.json``); the iteration it resumes from, or None when nothing was
    restored (no parked run, or a run already in ``run_dir``, which is never touched).

    Raises:
        ValueError: naming the file and field: a manifest that is not one, a file whose
            digest differs, or rooms other than the ones the run trained on.
    """
    if not osp.isdir(parked) or osp.isfile(osp.join(run_dir, STATE)):
        return None
    if osp.isdir(run_dir) and os.listdir(run_dir):
        raise ValueError(f'{run_dir}: holds files but no {STATE}; move it aside to restore '
                         f'the run parked in {parked}')
    manifest = _manifest(parked)
    for name, want in manifest['files'].items():
        path = osp.join(parked, name)
        if not osp.isfile(path) or _sha256(path) != want:
            raise ValueError(f'{osp.join(parked, MANIFEST)}: files: {name} is missing or its '
                             'SHA-256 differs (a truncated or altered copy)')
    rooms = rooms_digest(data)
    if manifest.get('rooms') != rooms:
        raise ValueError(f'{osp.join(parked, MANIFEST)}: rooms: the run trained on other rooms '
                         f'than those in {data} (digest {manifest.get("rooms")}, here {rooms})')
    building = f'{run_dir}.restoring'
    shutil.rmtree(building, ignore_errors=True)
    os.makedirs(building)
    for name in manifest['files']:
        if name.endswith('.scalars.json'):
            folder = osp.join(building, name.split('.')[0], 'vis_data')
            os.makedirs(folder)
            shutil.copyfile(osp.join(parked, name), osp.join(folder, 'scalars.json'))
        else:
            shutil.copyfile(osp.join(parked, name), osp.join(building, name))
    with open(osp.join(building, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(run_dir, manifest['last_checkpoint']))
    if osp.isdir(run_dir):
        os.rmdir(run_dir)  # empty (checked above)
    os.makedirs(osp.dirname(run_dir) or '.', exist_ok=True)
    os.rename(building, run_dir)
    return int(manifest.get('iteration', 0))


def parked_dirs(key: str, dest: str = UNFINISHED) -> List[str]:
    """The parked runs under ``dest/key``, as ``model/seedK``."""
    return sorted(osp.relpath(d, osp.join(dest, key))
                  for d in glob.glob(osp.join(dest, key, '*', 'seed*')) if osp.isdir(d))
