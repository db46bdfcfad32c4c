# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The distillation tables (``paper_tables.py --distill``): the students, their room
fine-tuning without the teacher and with it, and the teacher, each run read from the table of
record or, when that lacks it, from the record its runs were kept in before; and the gain of
each distilled run over its control, paired by seed."""
import math
from typing import Dict, List, Optional, Sequence, Tuple

from studies.experiments import mean_std
from studies.results_tables import Loader, _cell, _table

#: the distillation table's runs in the order they are shown (other runs after them)
DISTILL_RUNS = ('3dseg-t', '3dseg-t-scarce', '3dseg-t+room', '3dseg-t+distill',
                '3dseg-t+room-scarce', '3dseg-t+distill-scarce', '3dseg-t+distill-multiview')
# The labelled rooms of label-scarce runs whose entry does not say: --labelled-rooms' default
# before the count was chosen on the validation rooms (records of that time do not carry it).
EARLIER_LABELLED_ROOMS = 12


def labelled_rooms(run: dict) -> int:
    """The labelled rooms a label-scarce run kept (:data:`EARLIER_LABELLED_ROOMS` for a run
    recorded before the count was written with it)."""
    return run.get('labelled_rooms', EARLIER_LABELLED_ROOMS)


def distill_runs(load: Loader, sources: Sequence[str]) -> Dict[str, Tuple[str, dict]]:
    """The distillation table's runs, each ``(the record it is read from, its entry)``: from
    the first of ``sources`` that holds it as a run of that table (an entry with a panorama
    mIoU); a later source is read only for the runs the earlier ones lack."""
    found: Dict[str, Tuple[str, dict]] = {}
    for i, source in enumerate(sources):
        if i and found and all(k in found for k in DISTILL_RUNS + ('teacher', )):
            break
        for key, run in load(source).items():
            if key not in found and isinstance(run, dict) and 'panorama_mIoU' in run:
                found[key] = (source, run)
    order = [k for k in DISTILL_RUNS if k in found] + sorted(
        k for k in found if k not in DISTILL_RUNS and k != 'teacher')
    return {k: found[k] for k in order + (['teacher'] if 'teacher' in found else [])}


def _provenance(runs: Dict[str, Tuple[str, dict]]) -> str:
    """The caption of the distillation table: which record each row comes from and the
    labelled rooms of its label-scarce rows."""
    by_source: Dict[str, List[str]] = {}
    for key, (source, _) in runs.items():
        by_source.setdefault(source, []).append(key)
    parts = []
    for source, keys in by_source.items():
        counts: Dict[int, List[str]] = {}
        for key in keys:
            if key.endswith('-scarce'):
                counts.setdefault(labelled_rooms(runs[key][1]), []).append(key)
        scarce = '; '.join(f'{n} labelled rooms' + (
            '' if len(counts) == 1 else ': ' + ', '.join(f'`{k}`' for k in ks))
            for n, ks in counts.items())
        rows = '' if len(by_source) == 1 else ', '.join(f'`{k}`' for k in keys)
        detail = '; '.join(x for x in (rows, scarce and f'label-scarce rows: {scarce}') if x)
        parts.append(f'`benchmarks/{source}`' + (f' ({detail})' if detail else ''))
    return 'Generated from ' + ' and '.join(parts) + '.'


def distill_table(load: Loader, sources: Sequence[str]) -> str:
    """Students, their room fine-tuning without a teacher and with it, and the teacher; each
    row from the first of ``sources`` that holds it (said in the caption)."""
    runs = distill_runs(load, sources)
    rows = []
    for key, (_, run) in runs.items():
        if key == 'teacher':
            rows.append(['teacher (2D)', '—', '—', _cell(run['panorama_mIoU']), '—'])
            continue
        coverage = run.get('surface_coverage')
        rows.append([f'`{key}`', _cell(run.get('mIoU')), _cell(run.get('surface_mIoU')),
                     _cell(run.get('panorama_mIoU')),
                     '—' if coverage is None else f'{coverage:.1f}'])
    return _table(('run', 'voxel mIoU', 'surface mIoU', 'panorama mIoU',
                   'teacher surface coverage %'), rows, sources[0], _provenance(runs))


#: (distilled run, its control): the same student fine-tuned on the same rooms without the
#: teacher; the label-scarce run against the label-scarce control
GAIN_PAIRS = (('3dseg-t+distill', '3dseg-t+room'),
              ('3dseg-t+distill-scarce', '3dseg-t+room-scarce'),
              ('3dseg-t+distill-multiview', '3dseg-t+room'))
GAIN_METRICS = ('mIoU', 'surface_mIoU', 'panorama_mIoU')


def _signed(values: Sequence[float]) -> str:
    """``+mean ± std`` of paired differences (the number alone for one seed; a dash when a
    seed lacks the score: a run records NaN for a metric its test did not give)."""
    if not values or not all(math.isfinite(v) for v in values):
        return '—'
    text = mean_std(values)
    return text if text.startswith('-') else '+' + text


def _pairs(run: dict, control: dict) -> Optional[List[Tuple[int, int]]]:
    """The positions of ``run``'s and ``control``'s per-seed lists that hold the same seed:
    by the ``seeds`` both entries carry, else position by position when they hold as many
    numbers (a record written by one ``paper_tables.py`` call lists its seeds in one order);
    None when they cannot be paired."""
    if 'seeds' in run and 'seeds' in control:
        where = {s: j for j, s in enumerate(control['seeds'])}
        return [(i, where[s]) for i, s in enumerate(run['seeds']) if s in where] or None
    n = len(run.get('mIoU') or [])
    return [(i, i) for i in range(n)] if n and n == len(control.get('mIoU') or []) else None


def _diffs(run: dict, control: dict, pairs: List[Tuple[int, int]], metric: str) -> List[float]:
    """``run`` minus ``control`` seed by seed; empty when either lacks the metric for a seed."""
    a, b = run.get(metric) or [], control.get(metric) or []
    if any(i >= len(a) or j >= len(b) for i, j in pairs):
        return []
    return [a[i] - b[j] for i, j in pairs]


def gains_table(load: Loader, source: str) -> str:
    """Each distilled run of ``source`` minus its control, seed by seed: mean ± std of the
    differences, and whether the voxel mIoU gained in every seed. A pair the record does not
    hold is left out; one it holds but cannot pair (different seeds, or different labelled
    rooms) is left out and named in the caption, so a partial record never stops the tables."""
    record = load(source)
    rows, unpaired = [], []
    for name, control_name in GAIN_PAIRS:
        run, control = record.get(name), record.get(control_name)
        if not isinstance(run, dict) or not isinstance(control, dict):
            continue
        rooms = run.get('labelled_rooms')
        if rooms != control.get('labelled_rooms'):
            unpaired.append(f'`{name}` ({rooms or "every"} labelled rooms) and '
                            f'`{control_name}` ({control.get("labelled_rooms") or "every"})')
            continue
        pairs = _pairs(run, control)
        if pairs is None:
            unpaired.append(f'`{name}` ({len(run.get("mIoU") or [])} seeds) and '
                            f'`{control_name}` ({len(control.get("mIoU") or [])})')
            continue
        diffs = {m: _diffs(run, control, pairs, m) for m in GAIN_METRICS}
        label = f'`{name}`' + (f' ({rooms} labelled rooms)' if rooms else '')
        voxel = diffs['mIoU']
        every = 'yes' if voxel and all(d > 0 for d in voxel) else 'no'
        rows.append([label, f'`{control_name}`', str(len(pairs))] +
                    [_signed(diffs[m]) for m in GAIN_METRICS] +
                    [f"{every} ({', '.join(f'{d:+.2f}' for d in voxel)})"])
    caption = f'Generated from `benchmarks/{source}`.' + (
        ' Not paired: ' + '; '.join(unpaired) + '.' if unpaired else '')
    return _table(('run', 'control', 'seeds', 'voxel mIoU', 'surface mIoU', 'panorama mIoU',
                   'voxel gain in every seed'), rows, source, caption)
