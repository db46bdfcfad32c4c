# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Learning curves of the tuned baselines at an equal budget of training seconds.

Each model trains its recipe (the best tuning trial, chosen on the validation rooms) for
``CURVE_SECONDS`` of idle-machine training steps, so a slower model does fewer iterations.
Validation runs at ``CURVE_POINTS`` regular points; the checkpoint validation chose is
tested on the test rooms. A run stopped half-way continues exactly (``tools/train.py
--resume``) the next time the stage runs.

The seconds of a curve are budget seconds: iterations times the model's idle-machine step
time (``baseline_study.STEP_SECONDS``), the same clock for every model however loaded the
machine was while it ran; the measured wall-clock of the training processes is kept beside
them.
"""
import glob
import json
import math
import os
import os.path as osp
import re
import statistics
from typing import Dict, List, Optional, Sequence

from studies import baseline_study as study
from studies import carried_runs, experiments

# The 8 validations of a run slide 32^3 windows without overlap (stride 32): the same
# estimator for every model and an eighth of the windows of the test's stride 16, which
# would otherwise take half of SwinUNETR's budget in validation. The chosen checkpoint is
# tested as the tuning trials were validated, stride 16 (TEST_WINDOW).
VAL_WINDOW = ['model.test_cfg.crop_size=32', 'model.test_cfg.stride=32']

#: each model's curve run as a config file: its config (``baseline_study.MODELS``) with the
#: options of :func:`curve_options` but the run inputs (data roots and seed), which the driver
#: still passes as options so that runs begun before the files resume unchanged
#: (tests/test_studies/test_curve_configs.py checks each file gives the same run)
CURVE_CONFIGS = {
    '3dseg-t': 'configs/3dseg/ablations/3dseg-t-p2_lr2e-3_1xb2-6400_synthrooms-32.py',
    'unet3d': 'configs/unet3d/ablations/unet3d-base16-gn_lr9e-3_1xb2-7104_synthrooms-32.py',
    'sparseunet': 'configs/sparseunet/ablations/sparseunet-bn_lr3e-3_1xb2-1920_synthrooms-32.py',
    'swinunetr': 'configs/swinunetr/ablations/swinunetr-bn_lr27e-3_1xb2-1328_synthrooms-32.py',
}


def curve_options(model: str, data: str, seed: int, extra: Sequence[str] = (),
                  scale: int = 1) -> List[str]:
    """The ``--cfg-options`` of one seed of ``model``'s curve run (``extra``: the driver's
    ``--options``, last; ``scale``: a run ``scale`` times as long, same recipe)."""
    iters = study.curve_iters(model, scale)
    every = iters // study.CURVE_POINTS
    return (experiments.data_options(data) +
            [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={every}',
             f'default_hooks.checkpoint.interval={every}',
             # the last checkpoint (to resume) and the best one (to test) are all it keeps
             'default_hooks.checkpoint.max_keep_ckpts=1', f'param_scheduler.1.end={iters}'] +
            study.warmup_options(model) + VAL_WINDOW + study.best_recipe(model) +
            [f'randomness.seed={seed}'] + list(extra))


def read_curve(work_dir: str, step_seconds: float) -> List[List[float]]:
    """``[budget seconds, iteration, validation mIoU]`` of every validation in ``work_dir``.

    A resumed run logs into a new timestamped folder; the validations of all its segments
    are merged by iteration (a later segment's value of the same iteration wins: a run
    resumed at a validation point validates it again, ``ValidateOnResumeHook``). The work dir
    holds one run only: :func:`train_curve` moves an older run's folder aside.
    """
    by_iter: Dict[int, float] = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                if 'mIoU' in row:
                    by_iter[int(row['step'])] = float(row['mIoU'])
    return [[round(it * step_seconds, 1), it, miou] for it, miou in sorted(by_iter.items())]


def check_curve(curve: Sequence[Sequence[float]], iters: int, where: str) -> None:
    """A finished curve validates at the end of each of its :data:`CURVE_POINTS` intervals."""
    want = [iters // study.CURVE_POINTS * k for k in range(1, study.CURVE_POINTS + 1)]
    have = [int(p[1]) for p in curve]
    if have != want:
        raise RuntimeError(f'{where}: validations at iterations {have}, expected {want}; run '
                           'the curves stage again to continue it')


def best_checkpoint(work_dir: str) -> str:
    found = glob.glob(osp.join(work_dir, 'best_mIoU_iter_*.pth'))
    if len(found) != 1:
        raise FileNotFoundError(f'{work_dir}: expected one best_mIoU_iter_*.pth, found '
                                f'{len(found)}')
    return found[0]


def curves_key(scale: int = 1) -> str:
    """Where the runs of a curve length are kept, in the results and in ``--out``: the
    comparison's under ``curves``, longer ones (convergence) under ``curves-x<scale>``."""
    return 'curves' if scale == 1 else f'curves-x{scale}'


def summary_key(scale: int = 1) -> str:
    """The record's key of the summary of the runs under :func:`curves_key`."""
    return 'curve_summary' if scale == 1 else f'curve_summary-x{scale}'


def longer_scales(record: dict, prefix: str = 'curves-x') -> List[int]:
    """The scales of the longer runs ``record`` holds (its ``<prefix><N>`` keys: the runs
    under ``curves-xN``, their summaries under ``curve_summary-xN``), smallest first."""
    return sorted(int(k[len(prefix):]) for k in record
                  if k.startswith(prefix) and k[len(prefix):].isdigit())


def _train(model: str, work: str, options: List[str], out: str, seed: int,
           scale: int = 1) -> dict:
    """Train one curve run to its end, or on from where an earlier segment stopped
    (:func:`experiments.train_in_segments`); another run in ``work`` is moved aside first, so
    that its logs never mix into this one's curve."""
    return experiments.train_in_segments(
        work, study.MODELS[model]['config'], options,
        lambda n: osp.join(out, f'{_log_name(model, seed, scale)}_train{n}.log'),
        state_name='curve_state.json', set_aside=True,
        label=f'[{curves_key(scale)}] {model} seed {seed}: {study.curve_iters(model, scale)} '
        'iterations')


def _log_name(model: str, seed: int, scale: int) -> str:
    return f'curve{"" if scale == 1 else f"-x{scale}"}_{model}_seed{seed}'


def train_curve(model: str, seed: int, data: str, out: str, extra: Sequence[str] = (),
                scale: int = 1, parked: Optional[str] = None) -> Dict:
    """Train (or continue, or reuse) one seed of ``model``'s curve (``scale`` times the
    budget); its record."""
    config = study.MODELS[model]['config']
    options = curve_options(model, data, seed, extra, scale)
    work = osp.join(out, curves_key(scale), model, f'seed{seed}')
    record_path = osp.join(work, 'record_curve.json')
    iters = study.curve_iters(model, scale)
    if osp.isfile(record_path):
        record = json.load(open(record_path))
        if record.get('config') == config and record.get('options') == options:
            check_curve(record['curve'], iters, record_path)
            return record
    # finished on another machine: its record (options included) is in the results
    where = [curves_key(scale), model, str(seed)]
    kept = carried_runs.recorded_run(study.load_results(), study.RESULTS, where)
    if kept and kept.get('options') == options and not osp.isfile(
            osp.join(work, 'curve_state.json')):
        carried_runs.check_record(
            kept, [iters // study.CURVE_POINTS * k for k in range(1, study.CURVE_POINTS + 1)],
            f'{study.RESULTS}: {".".join(where)}')
        return dict(kept, config=config)
    # stopped on another machine: its parked copy goes on here
    resumed_at = carried_runs.restore(
        osp.join(parked, curves_key(scale), model, f'seed{seed}'), work, data) if parked else None
    if resumed_at is not None:
        print(f'[{curves_key(scale)}] {model} seed {seed}: restored its parked copy '
              f'(iteration {resumed_at})', flush=True)
    state = _train(model, work, options, out, seed, scale)
    curve = read_curve(work, study.STEP_SECONDS[model])
    check_curve(curve, iters, work)
    ckpt = best_checkpoint(work)
    test_dir = osp.join(work, 'test')
    experiments.run(experiments.python_tool(
        'tools/test.py', config, ckpt, '--work-dir', test_dir, '--cfg-options', *options,
        'test_dataloader.dataset.ann_file=splits/test.txt', *study.TEST_WINDOW),
        osp.join(out, f'{_log_name(model, seed, scale)}_test.log'), quiet=True)
    metrics = experiments.last_metrics(test_dir)
    record = dict(config=config, options=options, seed=seed, iters=iters,
                  budget_seconds=round(iters * study.STEP_SECONDS[model], 1),
                  train_seconds=round(sum(state['segments']), 1),
                  threads=os.environ.get('OMP_NUM_THREADS'),
                  best_iter=int(re.search(r'iter_(\d+)', ckpt).group(1)),
                  mIoU=metrics['mIoU'], surface_mIoU=metrics['surface_mIoU'], curve=curve)
    experiments.write_json(record_path, record)
    return record


def run_curves(models: Sequence[str], seeds: Sequence[int], data: str, out: str,
               extra: Sequence[str] = (), scale: int = 1,
               parked: Optional[str] = None) -> None:
    for seed in seeds:
        for model in models:
            record = train_curve(model, seed, data, out, extra, scale, parked)
            with study.updating_results() as results:
                results.setdefault(curves_key(scale), {}).setdefault(model, {})[str(seed)] = {
                    k: v for k, v in record.items() if k != 'config'}
            print(f'[curves] {model} seed {seed}: test mIoU {record["mIoU"]:.2f} '
                  f'(best validation at iteration {record["best_iter"]})', flush=True)


def current_runs(curves: Dict[str, Dict[str, dict]], data: str, extra: Sequence[str] = (),
                 scale: int = 1) -> Dict[str, Dict[str, dict]]:
    """The recorded curve runs made with today's options (recipe, budget, data, ``extra``); a
    run of an older recipe or budget is left out of the summary, with a line saying so."""
    kept = {}
    for model, runs in curves.items():
        kept[model] = {}
        for seed, run in runs.items():
            try:
                current = curve_options(model, data, int(seed), extra, scale)
            except ValueError as e:  # the model's tuning is not finished
                current = str(e)
            if run.get('options') == current:
                kept[model][seed] = run
            else:
                print(f'  {model} seed {seed}: recorded with other options (recipe, budget or '
                      'data); left out of the report until it is run again', flush=True)
    return kept


#: a model has converged when its seeds' mean curve gains less than this validation mIoU
#: over its last quarter
CONVERGED = 0.5


def gain_last_quarter(curve: Sequence[Sequence[float]]) -> float:
    """Validation mIoU gained over the last quarter of a curve (final value minus the value
    at the last point at or before three quarters of the run's iterations)."""
    # by iterations, in integers: each point's seconds are rounded to 0.1 s on their own, so
    # the sixth eighth's can lie just past 0.75 x the final's (SwinUNETR's 776.9 > 776.85)
    # and the gain would then be over the last three eighths
    before = [p for p in curve if 4 * p[1] <= 3 * curve[-1][1]] if curve else []
    if not before:
        raise ValueError(f'a curve needs a point in its first three quarters: {curve}')
    return curve[-1][2] - before[-1][2]


def time_to_accuracy(curve: Sequence[Sequence[float]], target: float) -> Optional[float]:
    """Seconds of the first validation at or above ``target`` mIoU; None if never reached."""
    return next((p[0] for p in curve if p[2] >= target), None)


def points_to_accuracy(curve: Sequence[Sequence[float]], target: float) -> Optional[int]:
    """How many validations (1 for the first) a curve takes to reach ``target``; None if it
    never does. Every model validates at the same fractions of the same budget, so this is
    the comparison of times to accuracy at the curves' resolution (an eighth of the budget),
    free of the tenths of a second by which the models' rounded step counts differ."""
    return next((i + 1 for i, p in enumerate(curve) if p[2] >= target), None)


def summary(curves: Dict[str, Dict[str, dict]], fraction: float = 0.95) -> Dict[str, dict]:
    """Per model: final validation and test mIoU, gain over the last quarter and seconds to
    reach ``fraction`` of the best model's mean final validation mIoU (per seed), plus the
    target itself."""
    final = {m: statistics.mean(r['curve'][-1][2] for r in runs.values())
             for m, runs in curves.items() if runs}
    target = fraction * max(final.values())
    rows = {}
    for model, runs in curves.items():
        if not runs:
            continue
        seeds = sorted(runs, key=int)
        rows[model] = dict(
            seeds=[int(s) for s in seeds], target=round(target, 2),
            final_val=[runs[s]['curve'][-1][2] for s in seeds],
            mIoU=[runs[s]['mIoU'] for s in seeds],
            surface_mIoU=[runs[s]['surface_mIoU'] for s in seeds],
            gain_last_quarter=[round(gain_last_quarter(runs[s]['curve']), 2) for s in seeds],
            seconds_to_target=[time_to_accuracy(runs[s]['curve'], target) for s in seeds],
            points_to_target=[points_to_accuracy(runs[s]['curve'], target) for s in seeds])
    return rows


#: the runs the comparison adds to benchmarks/paper_tables.json (the table of record)
PAPER_RUNS = {'3dseg-t': '3dseg-t-tuned', 'unet3d': 'unet3d-tuned',
              'sparseunet': 'sparse-unet', 'swinunetr': 'swin-unetr'}
LABELS = {'3dseg-t': '3DSeg-T', 'unet3d': 'UNet3D', 'sparseunet': 'SparseUNet3D',
          'swinunetr': 'SwinUNETR'}


def count_params(config: str) -> int:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import segmenter3d  # noqa: F401  (registers the parts)
    init_default_scope('mmseg')
    model = MODELS.build(Config.fromfile(osp.join(experiments.ROOT, config)).model)
    return sum(p.numel() for p in model.parameters())


def mean_curve(runs: Dict[str, dict]) -> List[List[float]]:
    """The seeds' curves averaged by iteration (over the iterations every seed validated)."""
    by_iter = [{int(p[1]): p for p in r['curve']} for r in runs.values()]
    common = sorted(set.intersection(*(set(c) for c in by_iter)))
    return [[by_iter[0][it][0], it, round(statistics.mean(c[it][2] for c in by_iter), 2)]
            for it in common]


def convergence(runs: Dict[str, dict]) -> dict:
    """Whether a model's runs (seed -> run) have converged, judged on their mean curve: its
    gain over the last quarter (``mean_gain_last_quarter``), the standard error of that gain
    over the seeds (``gain_sem``, None for one seed) and ``converged``, the gain below
    :data:`CONVERGED`.

    The mean curve is the model's curve: one seed's gain is the difference of two single
    validations, each about 1 mIoU off its seed's trend, so a rule on every seed's own gain
    would fail a model on its plateau about four times in five over three seeds. The gain is
    the mean of the seeds' unrounded gains (the mean curve's gain without its points'
    rounding to 0.01, which could turn 0.49 into 0.50).
    """
    gains = [gain_last_quarter(r['curve']) for r in runs.values()]
    # rounded before the verdict, as printed: 16.06 - 15.56 is 0.4999... in floats
    mean_gain = round(statistics.mean(gains), 2)
    sem = round(statistics.stdev(gains) / math.sqrt(len(gains)), 2) if len(gains) > 1 else None
    return dict(mean_gain_last_quarter=mean_gain, gain_sem=sem, converged=mean_gain < CONVERGED)


def plot(curves: Dict[str, Dict[str, dict]], path: str,
         title: str = 'Learning curves at an equal training budget') -> None:
    """Validation mIoU against budget seconds: one line per model (the seeds' mean) and a
    band from the lowest to the highest seed."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for model, runs in curves.items():
        if not runs:
            continue
        mean = mean_curve(runs)
        seconds = [p[0] for p in mean]
        by_iter = [{int(p[1]): p[2] for p in r['curve']} for r in runs.values()]
        points = [[c[p[1]] for c in by_iter] for p in mean]
        line, = ax.plot(seconds, [p[2] for p in mean], marker='o', ms=3,
                        label=f'{LABELS.get(model, model)} ({len(runs)} seed'
                        f'{"s" if len(runs) > 1 else ""})')
        ax.fill_between(seconds, [min(v) for v in points], [max(v) for v in points],
                        color=line.get_color(), alpha=0.2)
    ax.set_xlabel('training seconds (iterations x idle-machine seconds per step)')
    ax.set_ylabel('validation mIoU (%)')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report(data: str = experiments.STUDY_DATA, benchmarks: Optional[str] = None,
           extra: Sequence[str] = ()) -> dict:
    """The curves' summary into ``benchmarks/baselines.json`` (``baseline_study.RESULTS``),
    their runs into ``paper_tables.json`` (other runs kept) and ``learning_curves.png`` beside
    it (``benchmarks``: another folder for these two). Only runs made with today's options on
    the ``data`` rooms (``extra``: and these more options) count (:func:`current_runs`)."""
    benchmarks = benchmarks or osp.dirname(study.RESULTS)
    with study.updating_results() as results:
        curves = {m: runs for m, runs in
                  current_runs(results.get('curves', {}), data, extra).items() if runs}
        params = results.setdefault('params', {})
        for model in curves:
            params[model] = count_params(study.MODELS[model]['config'])
        results['curve_summary'] = summary(curves) if curves else {}
        # the longer runs: does each model converge (its mean curve's last-quarter gain)?
        longer_runs = {}
        for scale in longer_scales(results):
            longer = longer_runs[scale] = {m: runs for m, runs in current_runs(
                results[curves_key(scale)], data, extra, scale).items() if runs}
            results[summary_key(scale)] = {
                m: dict(row, **convergence(longer[m]))
                for m, row in summary(longer).items()} if longer else {}
    with experiments.updating_json(osp.join(benchmarks, 'paper_tables.json')) as paper:
        for model, runs in curves.items():
            seeds = sorted(runs, key=int)
            paper[PAPER_RUNS[model]] = dict(
                seeds=[int(s) for s in seeds], params=params[model],
                budget_seconds=runs[seeds[0]]['budget_seconds'],
                **{k: [runs[s][k] for s in seeds]
                   for k in ('mIoU', 'surface_mIoU', 'train_seconds', 'iters')},
                curve=mean_curve(runs), curves=[runs[s]['curve'] for s in seeds])
    plot(curves, osp.join(benchmarks, 'learning_curves.png'))
    for scale, longer in longer_runs.items():
        if longer:
            plot(longer, osp.join(benchmarks, f'learning_curves-x{scale}.png'),
                 f'Learning curves at {scale}x the budget: do the models converge?')
    return results
