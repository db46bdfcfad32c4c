# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Unfinished curve runs carried from one machine to the next, through a folder.

A long curve run (``baseline_study.py curves --scale 8``: about five hours of one core) may
have to go on on another machine, whose ``work_dirs`` is empty. ``baseline_study.py park
--parked DIR`` copies what resumes each stopped run into ``DIR/curves-x<N>/<model>/seed<k>/``
(a folder the user carries: shared storage, a copy; never the repository, which holds no
checkpoints):

* the last checkpoint, byte for byte (weights, optimizer, schedulers, message hub: the resume
  is exact);
* the best checkpoint so far, weights only (it is only tested, never resumed);
* every segment's validation log (``<timestamp>/vis_data/scalars.json``: the curve) and the
  run's ``curve_state.json`` (options, seconds of each segment);
* ``manifest.json``: each file's SHA-256 and the digest of the rooms the run trained on.

``curves --parked DIR`` restores a parked run into its work dir when that holds no run yet,
and trains on from there. A finished run's parked copy is removed by the next ``park``: its record
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
import stat
from typing import Dict, List, Optional

from studies import experiments

MANIFEST = 'manifest.json'
STATE = 'curve_state.json'
# names a parked run may hold: checkpoints, the state, and logs renamed <timestamp>.scalars.json
# (matched whole and in ASCII digits: '$' alone lets a name end in a newline)
_PLAIN_NAME = re.compile(r'(iter_[0-9]{1,12}\.pth|best_mIoU_iter_[0-9]{1,12}\.pth|'
                         r'curve_state\.json|[0-9]{8}_[0-9]{6}\.scalars\.json)')
_RESUMED = re.compile(r'iter_([0-9]{1,12})\.pth')
_SHA256 = re.compile(r'[0-9a-f]{64}')
# a run's folder, not one moved aside (seed0.replaced-<time>) or half built (seed0.parking)
_SEED = re.compile(r'seed[0-9]+')


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _refuse_links(path: str, levels: int) -> None:
    """``path`` and the ``levels`` folders above it (``<dest>/<key>/<model>/<seed>``) are no
    links: a link committed in their place would lead reads, writes or deletions elsewhere."""
    for _ in range(levels + 1):
        if osp.islink(path):
            raise ValueError(f'{path}: a link where a folder of parked runs belongs; replace it '
                             'with a folder')
        path = osp.dirname(path)


def rooms_digest(data: str) -> str:
    """A digest of the rooms under ``data`` (split lists and room arrays, not the zip
    metadata of ``.npz`` files, whose timestamps differ between two generations of the same
    rooms).

    Raises:
        FileNotFoundError: ``data`` holds no rooms (a wrong ``--data`` would otherwise be
            recorded as the digest of nothing, which any other missing folder matches).
    """
    import numpy as np
    digest = hashlib.sha256()
    files = sorted(glob.glob(osp.join(data, '**', '*'), recursive=True))
    if not any(p.endswith('.npz') and osp.isfile(p) for p in files):
        raise FileNotFoundError(f'{data}: no rooms (*.npz) to take the digest of; is --data '
                                'right?')
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
            with open(path, 'rb') as f:
                digest.update(f.read())
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
    # checked before anything is built: the older parked copy stays as it is
    if not osp.isfile(last):
        raise FileNotFoundError(f'{osp.join(run_dir, "last_checkpoint")}: names {last}, which '
                                'is gone; nothing to resume from (park nothing, or resume the '
                                'run here first)')
    if not _RESUMED.fullmatch(osp.basename(last)):
        raise ValueError(f'{osp.join(run_dir, "last_checkpoint")}: names {last}, not an '
                         'iter_<N>.pth checkpoint')
    _refuse_links(target, 3)
    building, older = f'{target}.parking', f'{target}.older'
    if osp.isdir(older) and not osp.lexists(target):  # stopped between the renames below
        os.rename(older, target)
    shutil.rmtree(older, ignore_errors=True)
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
    iteration = int(_RESUMED.fullmatch(osp.basename(last)).group(1))
    experiments.write_json(osp.join(building, MANIFEST), dict(
        iteration=iteration, last_checkpoint=osp.basename(last), rooms=rooms,
        files={n: _sha256(osp.join(building, n)) for n in names}))
    # the older copy is set aside, not deleted, until the new one has taken its place
    if osp.isdir(target):
        os.rename(target, older)
    try:
        os.rename(building, target)
    except BaseException:
        if osp.isdir(older) and not osp.lexists(target):
            os.rename(older, target)
        raise
    shutil.rmtree(older, ignore_errors=True)
    return iteration


def park(out: str, key: str, data: str, dest: str) -> Dict[str, str]:
    """Park every stopped run under ``out/key`` (``key``: ``curves-xN``) into ``dest/key``;
    a finished run's parked copy is removed. What happened to each run, by ``model/seedK``."""
    done, rooms = {}, None
    for run_dir in sorted(glob.glob(osp.join(out, key, '*', 'seed*'))):
        model, seed = run_dir.split(os.sep)[-2:]
        if not _SEED.fullmatch(seed) or not osp.isfile(osp.join(run_dir, STATE)):
            continue
        target = osp.join(dest, key, model, seed)
        if osp.isfile(osp.join(run_dir, 'record_curve.json')):
            _refuse_links(target, 3)
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
    """The manifest of the run parked in ``parked``, every field checked.

    Raises:
        ValueError: naming the manifest and the field.
    """
    path = osp.join(parked, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f'{path}: not a parked run\'s manifest ({type(err).__name__}: '
                         f'{err})') from None
    if not isinstance(manifest, dict):
        raise ValueError(f'{path}: not a parked run\'s manifest (a {type(manifest).__name__}, '
                         'not an object)')
    files, last = manifest.get('files'), manifest.get('last_checkpoint')
    if not isinstance(files, dict):
        raise ValueError(f'{path}: files: must map each file to its SHA-256, not be a '
                         f'{type(files).__name__}')
    for name, digest in files.items():
        if not _PLAIN_NAME.fullmatch(name):
            raise ValueError(f'{path}: files: {name!r} is not a file a parked run holds '
                             '(checkpoints, curve_state.json, <timestamp>.scalars.json)')
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise ValueError(f'{path}: files: {name}: {str(digest)[:80]!r} is not a SHA-256 '
                             '(64 lowercase hex digits)')
    if STATE not in files:
        raise ValueError(f'{path}: files: {STATE} is missing')
    resumed = sorted(n for n in files if _RESUMED.fullmatch(n))
    if not isinstance(last, str) or last not in resumed:
        raise ValueError(f'{path}: last_checkpoint: {str(last)[:80]!r} is not an iter_<N>.pth '
                         'among files')
    if resumed != [last]:
        # the checkpoint hook keeps one; another would be resumed by a later rotation's rules
        raise ValueError(f'{path}: files: {", ".join(resumed)}: one iter_<N>.pth only, '
                         f'the last_checkpoint {last}')
    iteration = manifest.get('iteration')
    if type(iteration) is not int or iteration != int(_RESUMED.fullmatch(last).group(1)):
        raise ValueError(f'{path}: iteration: {str(iteration)[:80]!r} is not the iteration of '
                         f'last_checkpoint {last}')
    if not isinstance(manifest.get('rooms'), str):
        raise ValueError(f'{path}: rooms: {str(manifest.get("rooms"))[:80]!r} is not a digest')
    return manifest


def _copy_checked(src: str, dst: str, want: str, manifest: str, name: str) -> None:
    """``src`` into ``dst`` (a new file), its SHA-256 ``want``: the bytes checked are the
    bytes copied, and a link (which would lead the read outside) is refused.

    Raises:
        FileNotFoundError: ``src`` is missing.
        ValueError: ``src`` is not a plain file, or its digest differs.
    """
    if not osp.lexists(src):
        raise FileNotFoundError(f'{manifest}: files: {name} is missing from {osp.dirname(src)}')
    if not stat.S_ISREG(os.lstat(src).st_mode):
        raise ValueError(f'{manifest}: files: {name} is not a plain file (a link, a folder or '
                         'a device)')
    digest = hashlib.sha256()
    fd = os.open(src, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
    with os.fdopen(fd, 'rb') as f, open(dst, 'xb') as out:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ValueError(f'{manifest}: files: {name} is not a plain file')
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
            out.write(block)
    if digest.hexdigest() != want:
        raise ValueError(f'{manifest}: files: {name} is missing or its SHA-256 differs (a '
                         'truncated or altered copy)')


def restore(parked: str, run_dir: str, data: str) -> Optional[int]:
    """Restore the run parked in ``parked`` into ``run_dir`` when ``run_dir`` holds no run
    (no ``curve_state.json``); the iteration it resumes from, or None when nothing was
    restored (no parked run, or a run already in ``run_dir``, which is never touched).

    Raises:
        ValueError: naming the file and field: a manifest that is not one, a file whose
            digest differs, or rooms other than the ones the run trained on.
    """
    # 'runs/seed0/' would otherwise be built in 'runs/seed0/.restoring', inside itself
    parked, run_dir = osp.normpath(parked), osp.normpath(run_dir)
    if not osp.isdir(parked) or osp.isfile(osp.join(run_dir, STATE)):
        return None
    _refuse_links(parked, 3)
    if osp.isdir(run_dir) and os.listdir(run_dir):
        raise ValueError(f'{run_dir}: holds files but no {STATE}; move it aside to restore '
                         f'the run parked in {parked}')
    manifest = _manifest(parked)
    path = osp.join(parked, MANIFEST)
    # a file the manifest does not name was never checked: a log of it would be dropped
    extra = sorted(set(os.listdir(parked)) - set(manifest['files']) - {MANIFEST})
    if extra:
        raise ValueError(f'{path}: files: {", ".join(map(repr, extra))} in {parked} but not '
                         'in the manifest')
    rooms = rooms_digest(data)
    if manifest['rooms'] != rooms:
        raise ValueError(f'{path}: rooms: the run trained on other rooms than those in {data} '
                         f'(digest {manifest["rooms"]}, here {rooms})')
    building = f'{run_dir}.restoring'
    shutil.rmtree(building, ignore_errors=True)
    os.makedirs(building)
    try:
        for name, want in manifest['files'].items():
            if name.endswith('.scalars.json'):
                folder = osp.join(building, name.split('.')[0], 'vis_data')
                os.makedirs(folder)
                dst = osp.join(folder, 'scalars.json')
            else:
                dst = osp.join(building, name)
            _copy_checked(osp.join(parked, name), dst, want, path, name)
        _check_resumed(osp.join(building, manifest['last_checkpoint']), manifest['iteration'],
                       osp.join(parked, manifest['last_checkpoint']))
        with open(osp.join(building, 'last_checkpoint'), 'w') as f:
            f.write(osp.join(run_dir, manifest['last_checkpoint']))
        if osp.isdir(run_dir):
            os.rmdir(run_dir)  # empty (checked above)
        os.makedirs(osp.dirname(run_dir) or '.', exist_ok=True)
        os.rename(building, run_dir)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return manifest['iteration']


def _check_resumed(path: str, iteration: int, shown: str) -> None:
    """The checkpoint to resume is one (read by the weights-only loader) of ``iteration``:
    a file renamed to another iteration would resume elsewhere than its name and the
    manifest say."""
    from segmenter3d.checkpoint_io import load_checkpoint_file
    try:
        ckpt = load_checkpoint_file(path, what='checkpoint to resume')
    except ValueError as err:
        raise ValueError(str(err).replace(path, shown)) from None
    saved = ckpt.get('meta', {}).get('iter')
    if saved != iteration:
        raise ValueError(f"{shown}: 'meta'['iter'] is {saved}, not the {iteration} of its name")


def recorded_run(results: dict, path: str, where: List[str]) -> Optional[dict]:
    """The record at ``where`` (``[curves-xN, model, seed]``) in ``results`` (read from
    ``path``): a seed finished on another machine; None when there is none.

    Raises:
        ValueError: naming the file and the field that is not an object.
    """
    record = results
    for depth, key in enumerate(where):
        if record is None:
            return None
        if not isinstance(record, dict):
            raise ValueError(f'{path}: {".".join(where[:depth]) or "the top level"}: '
                             f'a {type(record).__name__}, not an object')
        record = record.get(key)
    if record is not None and not isinstance(record, dict):
        raise ValueError(f'{path}: {".".join(where)}: a {type(record).__name__}, not an object')
    return record


def check_record(record: dict, validations: List[int], where: str) -> None:
    """A finished run's record holds what the curves stage and its report read: a curve of
    ``[seconds, iteration, mIoU]`` points at the iterations ``validations``, the test's mIoUs
    and the best iteration.

    Raises:
        ValueError: naming ``where`` (the file and the record) and the field.
    """
    def number(value):
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    curve = record.get('curve')
    if not isinstance(curve, list) or not all(
            isinstance(p, list) and len(p) == 3 and all(map(number, p)) for p in curve):
        raise ValueError(f'{where}.curve: not a list of [seconds, iteration, mIoU] points')
    for key in ('mIoU', 'surface_mIoU'):
        if not number(record.get(key)):
            raise ValueError(f'{where}.{key}: {str(record.get(key))[:80]!r} is not a number')
    if type(record.get('best_iter')) is not int:
        raise ValueError(f'{where}.best_iter: {str(record.get("best_iter"))[:80]!r} is not an '
                         'iteration')
    if [p[1] for p in curve] != validations:
        raise ValueError(f'{where}.curve: validations at iterations {[p[1] for p in curve]}, '
                         f'expected {validations}')
