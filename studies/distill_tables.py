# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The distillation tables (``paper_tables.py --distill``): the students, their room
fine-tuning without the teacher and with it, and the teacher, each run read from the table of
record or, when that lacks it, from the record its runs were kept in before; and the gain of
each distilled run over its control, paired by seed."""
import statistics
from typing import Dict, List, Sequence, Tuple

from studies.results_tables import Loader, _cell, _table

#: the distillation table's runs in the order they are shown (other runs after them)
DISTILL_RUNS = ('3dseg-t', '3dseg-t-scarce', '3dseg-t+room', '3dseg-t+distill',
                '3dseg-t+room-scarce', '3dseg-t+distill-scarce', '3dseg-t+distill-multiview')
# The labelled rooms of label-scarce runs whose entry does not say: --labelled-rooms' default
# before the count was chosen on the validation rooms (records of that time do not carry it).
EARLIER_LABELLED_ROOMS = 12


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
                counts.setdefault(runs[key][1].get('labelled_rooms', EARLIER_LABELLED_ROOMS),
                                  []).append(key)
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
    """``+mean ± std`` of paired differences (the number alone for one seed)."""
    mean = statistics.mean(values)
    return f'{mean:+.2f}' + (f' ± {statistics.stdev(values):.2f}' if len(values) > 1 else '')


def gains_table(load: Loader, source: str) -> str:
    """Each distilled run of ``source`` minus its control, seed by seed (a record's runs hold
    one number per seed, in the same seed order): mean ± std of the differences, and whether
    the voxel mIoU gained in every seed. A pair the record does not hold in full is left out."""
    record = load(source)
    rows = []
    for run, control in GAIN_PAIRS:
        if run not in record or control not in record:
            continue
        if len(record[run]['mIoU']) != len(record[control]['mIoU']):
            raise ValueError(f'benchmarks/{source}: {run} and {control} hold different '
                             f'numbers of seeds ({len(record[run]["mIoU"])} and '
                             f'{len(record[control]["mIoU"])}); they cannot be paired')
        diffs = {m: [a - b for a, b in zip(record[run][m], record[control][m])]
                 for m in GAIN_METRICS}
        rooms = record[run].get('labelled_rooms')
        label = f'`{run}`' + (f' ({rooms} labelled rooms)' if rooms else '')
        every = 'yes' if all(d > 0 for d in diffs['mIoU']) else 'no'
        rows.append([label, f'`{control}`', str(len(diffs['mIoU']))] +
                    [_signed(diffs[m]) for m in GAIN_METRICS] +
                    [f"{every} ({', '.join(f'{d:+.2f}' for d in diffs['mIoU'])})"])
    return _table(('run', 'control', 'seeds', 'voxel mIoU', 'surface mIoU', 'panorama mIoU',
                   'voxel gain in every seed'), rows, source)
