# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The labelled-room count of the label-scarce runs, chosen on the validation rooms.

    python studies/paper_tables.py --choose-scarcity --iters 800 --record

Block-trains the 3DSeg-T student (one seed, :data:`SEED`) on the first k labelled training
rooms for each candidate k and on every training room, scores each on the **validation**
rooms, and picks the data-bound count: the largest k whose validation mIoU is below the
all-rooms student's by more than :data:`MARGIN`. Below that gap the scarce student is still
limited by its iterations, not by its labels, and distillation has nothing to add (with 12 of
48 rooms the scarce student beat the all-rooms one). The test rooms never enter the choice.

The choice is kept under :data:`KEY` in ``benchmarks/paper_tables.json`` (one entry, not a
run: the candidates, their scores, the margin and the count), where ``paper_tables.py
--distill`` reads it unless ``--labelled-rooms`` names a count.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from studies import experiments

#: the key of the choice in the table of record
KEY = 'scarcity'
CANDIDATES = (3, 6, 12, 48)
# mIoU points. The 3DSeg-T students' scores spread by 0.4 to 0.7 mIoU between seeds (sample
# std over 3 seeds); a one-seed gap of over four such spreads is labels missing, not noise.
MARGIN = 3.0
SEED = 0
RULE = ('the largest candidate whose validation mIoU is below the all-rooms student\'s by '
        'more than the margin')


def data_bound_count(scores: Dict[int, float], all_rooms: float,
                     margin: float = MARGIN) -> Optional[int]:
    """The largest labelled-room count whose score is below ``all_rooms`` by more than
    ``margin`` (strictly: a gap of exactly ``margin`` is not data-bound); ``None`` when no
    count is. Gaps are compared at 1e-6, as the metrics are written to two decimals (32.02 -
    29.02 is 3.0000000000000036 in floats)."""
    bound = [k for k, score in scores.items() if round(all_rooms - score, 6) > margin]
    return max(bound) if bound else None


def candidate_options(k: int, training_rooms: int) -> List[str]:
    """The ``--cfg-options`` that keep the first ``k`` training rooms (none for a count that
    covers every room: that run is the all-rooms student)."""
    if k < 1:
        raise ValueError(f'--candidates: a labelled-room count must be >= 1, got {k}')
    return [] if k >= training_rooms else [f'train_dataloader.dataset.indices={k}']


def choose(data: str, out: str, config: str, iters: int, candidates: Sequence[int] = CANDIDATES,
           margin: float = MARGIN, seed: int = SEED, options: Sequence[str] = ()) -> dict:
    """Train ``config`` (``options`` added: the schedule of ``iters`` iterations when the
    config is not at them) on each candidate's rooms of ``data`` and on all of them, validate
    each (finished runs in ``out/scarcity`` reused) and apply the rule; the entry kept under
    :data:`KEY`."""
    for k in candidates:
        candidate_options(k, 1)  # refuses a count below 1 before anything trains
    names = open(osp.join(data, 'splits', 'training.txt')).read().split()
    base = experiments.data_options(data) + [f'randomness.seed={seed}', *options]

    def validate(k: int) -> float:
        extra = candidate_options(k, len(names))
        tag = f'rooms{k}' if extra else 'all'
        record = experiments.train_and_test(
            osp.join(out, 'scarcity', tag), config, base + extra,
            osp.join(out, f'scarcity_{tag}'), split='validation', keys=('mIoU', 'surface_mIoU'))
        miou = record['metrics']['mIoU']
        print(f'  {tag:<8} validation mIoU {miou:.2f}', flush=True)
        return miou

    all_rooms = validate(len(names))
    # a count of every training room or more is the all-rooms student (never data-bound)
    scores = {k: (all_rooms if k == len(names) else validate(k))
              for k in sorted({min(k, len(names)) for k in candidates})}
    return dict(candidates=sorted(scores), validation_mIoU={str(k): s for k, s in scores.items()},
                training_rooms=len(names), all_rooms_mIoU=all_rooms, margin=margin,
                labelled_rooms=data_bound_count(scores, all_rooms, margin), rule=RULE,
                config=config, iters=iters, seed=seed, data=data, split='validation')


def command(data: str, iters: int) -> str:
    return (f'python studies/paper_tables.py --choose-scarcity --data {data} --iters {iters} '
            '--record')


def recorded_count(record: dict, source: str, data: str, iters: int) -> int:
    """The labelled-room count chosen for ``data`` at ``iters`` block-training iterations in
    ``record`` (the table of record, read from ``source``); a ValueError naming the command
    to run when there is none, it was chosen for other rooms or iterations, or no candidate
    was data-bound."""
    entry = record.get(KEY)
    run = command(data, iters)
    if entry is None:
        raise ValueError(f'{source}: no "{KEY}" entry: the labelled-room count of the '
                         f'label-scarce runs is chosen on the validation rooms first ({run}), '
                         'or named with --labelled-rooms')
    for field, want in (('data', data), ('iters', iters)):
        if entry.get(field) != want:
            raise ValueError(f'{source}: "{KEY}.{field}" is {entry.get(field)!r}, these runs '
                             f'have {want!r}: choose again ({run}) or name a count with '
                             '--labelled-rooms')
    if entry.get('labelled_rooms') is None:
        raise ValueError(f'{source}: "{KEY}": no candidate of {entry.get("candidates")} was '
                         f'data-bound (validation mIoU more than {entry.get("margin")} below '
                         'the all-rooms student\'s): choose among fewer rooms (--candidates) '
                         'or name a count with --labelled-rooms')
    return int(entry['labelled_rooms'])


def labelled_rooms(given: Optional[int], path: str, data: str, iters: int) -> int:
    """The label-scarce runs' labelled rooms: ``given`` (``--labelled-rooms``), else the
    count chosen for ``data`` at ``iters`` iterations in the table of record at ``path``."""
    if given is not None:
        return given
    record = json.load(open(path)) if osp.isfile(path) else {}
    return recorded_count(record, path, data, iters)


def stage(args, config: str, options: Sequence[str], record: Optional[str]) -> dict:
    """``paper_tables.py --choose-scarcity``: :func:`choose` with the driver's ``--data``,
    ``--out``, ``--iters``, ``--candidates`` and ``--margin`` (``config`` and ``options``: its
    3DSeg-T block training at ``--iters``); the entry as ``OUT/scarcity.json`` and, when
    ``record`` names the table of record, under :data:`KEY` there (its runs kept)."""
    entry = choose(args.data, args.out, config, args.iters, args.candidates, args.margin,
                   options=options)
    with open(osp.join(args.out, 'scarcity.json'), 'w') as f:
        json.dump(entry, f, indent=1)
    if record:
        with experiments.updating_json(record) as runs:
            runs[KEY] = entry
    print('\n' + '\n'.join(table(entry)), flush=True)
    return entry


def table(entry: dict) -> List[str]:
    """The candidates' validation scores and the choice, as markdown lines."""
    lines = ['| labelled rooms | validation mIoU | below all rooms by |', '|---|---|---|']
    best = entry['all_rooms_mIoU']
    for k in entry['candidates']:
        score = entry['validation_mIoU'][str(k)]
        mark = ' (chosen)' if k == entry['labelled_rooms'] else ''
        lines.append(f'| {k}{mark} | {score:.2f} | {best - score:.2f} |')
    chosen = entry['labelled_rooms']
    lines += ['', f"All {entry['training_rooms']} training rooms: {best:.2f}; margin "
              f"{entry['margin']:g}; " + (f'chosen: {chosen} labelled rooms.' if chosen else
                                          'no candidate is data-bound.')]
    return lines
