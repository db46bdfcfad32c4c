# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The tables of the baseline comparison (``benchmarks/baselines.json``): the learning-curve
runs at an equal budget, per baseline whether 3DSeg-T holds its lead, and the longer runs that
ask whether each model converges. Each row links the
config file of its curve run (``learning_curves.CURVE_CONFIGS``), written from the repository
root (``results_tables.fill`` makes the links relative to the page that holds the table)."""
import os.path as osp
from typing import Callable, Optional, Sequence

from studies.baseline_study import curve_iters
from studies.experiments import mean_std
from studies.learning_curves import (
    CONVERGED,
    CURVE_CONFIGS,
    curves_key,
    longer_scales,
    mean_curve,
    summary_key,
)
from studies.results_tables import _table

LABELS = {'3dseg-t': '3DSeg-T', 'unet3d': 'UNet3D', 'sparseunet': 'SparseUNet3D',
          'swinunetr': 'SwinUNETR'}
OURS = '3dseg-t'


def _seconds(values: Sequence[Optional[float]]) -> str:
    """Seconds to the target over seeds: ``mean ± std`` of the seeds that reached it."""
    reached = [v for v in values if v is not None]
    if not reached:
        return 'not reached'
    text = mean_std(reached)
    return text if len(reached) == len(values) else f'{text} ({len(reached)}/{len(values)} seeds)'


def config_link(model: str, scale: int = 1) -> str:
    """A link to ``model``'s curve config, '—' for a model without one; with ``scale`` > 1
    the longer run's iterations beside it (the file is the comparison's run, not that one)."""
    config = CURVE_CONFIGS.get(model)
    if not config:
        return '—'
    link = f'[{osp.basename(config)}]({config})'
    if scale == 1:
        return link
    return (f'{link} run at {scale}x its iterations ({curve_iters(model, scale):,}: '
            f'`curves --scale {scale}`)')


def curves_table(load: Callable[[str], dict], source: str = 'baselines.json') -> str:
    """Each model's recipe trained for the same budget seconds, over its seeds."""
    record = load(source)
    summary, curves = record.get('curve_summary', {}), record.get('curves', {})
    if not summary:
        return 'No learning-curve run is recorded yet.\n'
    rows = []
    for model, row in summary.items():
        runs = curves[model]
        first = runs[str(row['seeds'][0])]
        rows.append([LABELS.get(model, model), f"{record['params'][model]:,}",
                     f"{first['iters']:,}", f"{first['budget_seconds']:g}",
                     str(len(row['seeds'])), mean_std(row['final_val']),
                     mean_std(row['gain_last_quarter']), mean_std(row['mIoU']),
                     mean_std(row['surface_mIoU']), _seconds(row['seconds_to_target']),
                     config_link(model)])
    target = next(iter(summary.values()))['target']
    return _table(['model', 'parameters', 'iterations', 'budget s', 'seeds',
                   'final validation mIoU', 'gain over the last quarter', 'test mIoU',
                   'test surface mIoU', f's to {target:g} validation mIoU', 'config'],
                  rows, source)


def _verdict(leads: Sequence[float]) -> str:
    """What a lead of 3DSeg-T over a baseline (positive: 3DSeg-T ahead) says over the seeds."""
    if all(v > 0 for v in leads):
        return 'holds'
    if all(v < 0 for v in leads):
        return 'does not hold'
    if all(v == 0 for v in leads):
        return 'tie'
    return 'mixed over seeds'


def lead_table(load: Callable[[str], dict], source: str = 'baselines.json',
               scale: int = 1) -> str:
    """Per baseline: 3DSeg-T's test mIoU lead at the equal budget (paired by seed) and its
    time-to-accuracy against the baseline's, each with the verdict over the seeds (with three
    seeds a description of them, not a significance test). ``scale``: the longer runs at that
    many times the budget (``curves --scale``), their target 95% of their own best model's."""
    summary = load(source).get(summary_key(scale), {})
    at = '' if scale == 1 else f' at {scale}x the budget'
    if OURS not in summary:
        return f'No learning-curve run of 3DSeg-T is recorded yet{at}.\n'
    ours = summary[OURS]
    rows = []
    for model, row in summary.items():
        if model == OURS:
            continue
        seeds = [s for s in ours['seeds'] if s in row['seeds']]
        pick = lambda r, key: [r[key][r['seeds'].index(s)] for s in seeds]  # noqa: E731
        leads = [a - b for a, b in zip(pick(ours, 'mIoU'), pick(row, 'mIoU'))]
        # compared in validation points (the same fractions of the same budget for every
        # model); a model that never reaches the target takes longer than any that does
        never = float('inf')
        sooner = [(b if b is not None else never) - (a if a is not None else never)
                  for a, b in zip(pick(ours, 'points_to_target'),
                                  pick(row, 'points_to_target'))]
        sooner = [0 if v != v else v for v in sooner]  # both never: inf - inf is a tie
        rows.append([LABELS.get(model, model), str(len(seeds)),
                     mean_std(leads) if leads else '—', _verdict(leads) if leads else '—',
                     f"{_seconds(pick(ours, 'seconds_to_target'))} vs "
                     f"{_seconds(pick(row, 'seconds_to_target'))}",
                     _verdict(sooner) if sooner else '—', config_link(model, scale)])
    if not rows:
        return (f'No baseline has a finished learning-curve run{at} yet (3DSeg-T has '
                f"{len(ours['seeds'])} of its seeds).\n")
    return _table(['baseline', 'paired seeds', "3DSeg-T's test mIoU lead", 'at equal budget',
                   f"s to {ours['target']:g} validation mIoU: 3DSeg-T vs baseline",
                   'in time-to-accuracy',
                   "baseline's config"], rows, source,
                  f"Generated from `benchmarks/{source}`; 3DSeg-T's config: "
                  f'{config_link(OURS, scale)}.')


def _summarised(runs: dict, row: dict) -> bool:
    """Whether ``runs`` are the runs summary ``row`` was made from: one per seed, on one grid
    of iterations, each ending at the summary's final value. Otherwise their mean (over the
    iterations all of them validated) would not be the curve the row's numbers describe."""
    if [int(s) for s in runs] != list(row['seeds']):
        return False
    grids = {tuple(int(p[1]) for p in r['curve']) for r in runs.values()}
    return len(grids) == 1 and [r['curve'][-1][2] for r in runs.values()] == row['final_val']


def _against(value: float, threshold: float) -> str:
    return 'below' if value < threshold else 'at' if value == threshold else 'above'


def _mean_gain(row: dict) -> str:
    """The gain of a summary row's mean curve, ``± its standard error`` over the seeds, and
    where it lies against the threshold ('—' for a summary written before it was recorded)."""
    gain = row.get('mean_gain_last_quarter')
    if gain is None:
        return '—'
    sem = '' if row.get('gain_sem') is None else f" ± {row['gain_sem']:.2f}"
    return f'{gain:+.2f}{sem} ({_against(gain, CONVERGED)} {CONVERGED:g})'


def convergence_table(load: Callable[[str], dict], source: str = 'baselines.json') -> str:
    """The longer curve runs (``baseline_study.py curves --scale N``, kept under
    ``curves-xN``): the same recipe for N times the budget, validated at the same 8 fractions
    of it; a model is converged when its seeds' mean curve gains less than 0.5 validation
    mIoU over its last quarter (:func:`studies.learning_curves.convergence`)."""
    record = load(source)
    rows = []
    # by the scale's number (x4 before x10), not by the key's letters
    for scale in longer_scales(record, 'curve_summary-x'):
        runs = record.get(curves_key(scale), {})
        for model, row in record[summary_key(scale)].items():
            # a summary whose runs were moved out of the record since: its own numbers only
            first = runs.get(model, {}).get(str(row['seeds'][0]))
            # the seeds' mean curve, drawn only from the runs the summary was made from
            kept = {str(s): runs[model][str(s)] for s in row['seeds']
                    if str(s) in runs.get(model, {})}
            mean = mean_curve(kept) if _summarised(kept, row) else None
            rows.append([LABELS.get(model, model), f'{scale}x',
                         f"{first['iters']:,}" if first else '—',
                         f"{first['budget_seconds']:g}" if first else '—',
                         str(len(row['seeds'])),
                         ', '.join(f'{p[2]:.2f}' for p in mean) if mean else '—',
                         mean_std(row['final_val']),
                         ', '.join(f'{g:+.2f}' for g in row['gain_last_quarter']),
                         _mean_gain(row),
                         # a summary written before: its verdict was every seed's, not this
                         '—' if row.get('mean_gain_last_quarter') is None else
                         'yes' if row['converged'] else 'no', mean_std(row['mIoU'])])
    if not rows:
        return ('No longer run is recorded yet (`python studies/baseline_study.py curves '
                '--models 3dseg-t unet3d --scale 4`).\n')
    return _table(['model', 'budget', 'iterations', 'budget s', 'seeds',
                   "validation mIoU at each eighth (seeds' mean)", 'final validation mIoU',
                   'gain over the last quarter, per seed',
                   "gain of the seeds' mean curve ± standard error",
                   "converged (the mean curve's gain below 0.5)", 'test mIoU'],
                  rows, source)
