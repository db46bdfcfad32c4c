# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The comparison with the paper's baselines, tuned alike, on generated rooms.

    python studies/baseline_study.py tune --models 3dseg-t unet3d --out work_dirs/baselines
    python studies/baseline_study.py curves --models 3dseg-t unet3d --seeds 0 1 2
    python studies/baseline_study.py report   # tables' records and the curves' picture
    python studies/baseline_study.py curves --models 3dseg-t unet3d --seeds 0 --scale 4

``tune`` gives every model the same number of recipe trials (learning rate x normalisation x
weight decay, where the model has the choice), each for the same budget of training seconds
(the model's iterations are the budget over its idle-machine seconds per step, so a slower
model does fewer steps), scored on the **validation** rooms; the best trial per model is its
recipe. ``curves`` trains each model's recipe for a larger budget over several seeds, with
validation at regular points, and tests the checkpoint validation chose. Every trial and run
is kept in ``benchmarks/baselines.json``; a finished one is reused when run again, a stopped
one continues from where it stopped. ``--scale N`` makes curve runs N times as long with the
same recipe and validation points, kept apart (``curves-xN``): whether the models converge.
``park --scale N --parked DIR`` copies the stopped runs into ``DIR``
(:mod:`studies.carried_runs`); ``curves --parked DIR`` continues them on another machine.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from studies import experiments  # noqa: E402
from studies.experiments import ROOT, data_options, ensure_rooms, schedule_options  # noqa: E402

RESULTS = osp.join(ROOT, 'benchmarks', 'baselines.json')
TEST_WINDOW = ['model.test_cfg.crop_size=32', 'model.test_cfg.stride=16']
# Idle-machine seconds per training step, batch 2 of 32^3 blocks drawn from the study's
# training rooms, 2 threads, medians of 20 steps, all four in one run:
#   python benchmarks/train_step.py --real data/synthrooms-study --rows baselines --steps 20
STEP_SECONDS = {'3dseg-t': 0.162, 'unet3d': 0.146, 'sparseunet': 0.540, 'swinunetr': 0.780}
# The budget every tuning trial gets, in seconds of training steps on an idle machine: the
# 800 iterations of 3DSeg-T's paper-table runs.
TUNE_SECONDS = 800 * STEP_SECONDS['3dseg-t']
# The learning-curve budget: 8x a tuning trial, validated at the end of each eighth (a model's
# curve is 8 of its tuning trials long, so its validation points fall on whole iterations).
CURVE_POINTS = 8
CURVE_SECONDS = CURVE_POINTS * TUNE_SECONDS
# Warm-up: the same budget seconds for every model, the 100 steps of 3DSeg-T that the CPU
# schedule (schedule_3k_adam.py) warms up for. In steps it would take 60% of SwinUNETR's
# 166-step trial; in seconds it is 21 of its steps.
WARMUP_SECONDS = 100 * STEP_SECONDS['3dseg-t']
SCHEDULE_WARMUP = 100


def warmup_options(model: str) -> List[str]:
    """``--cfg-options`` giving ``model`` its warm-up of :data:`WARMUP_SECONDS` (none when
    that is the schedule's own, so records of runs made before stay valid)."""
    steps = trial_iters(model, WARMUP_SECONDS)
    if steps == SCHEDULE_WARMUP:
        return []
    return [f'param_scheduler.0.end={steps}', f'param_scheduler.1.begin={steps}']


def _lr(lr: float) -> List[str]:
    return [f'optim_wrapper.optimizer.lr={lr}']


def _wd(wd: float) -> List[str]:
    # Adam's weight decay is an L2 term; AdamW decouples it, as a recipe with decay expects
    return [] if not wd else ['optim_wrapper.optimizer.type=AdamW',
                              f'optim_wrapper.optimizer.weight_decay={wd}']


UNET_NORMS = {'bn': ['model.backbone.norm_cfg.type=BN3d'],
              'gn': ['model.backbone.norm_cfg.type=GN', 'model.backbone.norm_cfg.num_groups=8']}
# a norm switch replaces the whole norm_cfg (GroupNorm's num_groups must not survive a switch)
SPARSE_NORMS = {'bn': [], 'gn': ['model.backbone.norm_cfg._delete_=True',
                                 'model.backbone.norm_cfg.type=GN',
                                 'model.backbone.norm_cfg.num_groups=8']}
SWIN_NORMS = {'gn': [], 'bn': ['model.backbone.norm_cfg._delete_=True',
                               'model.backbone.norm_cfg.type=BN3d']}
# model -> config, the learning rates of its grid and its other choice {name: options}.
# Four trials each: the shipped learning rate and a larger one, times the model's other
# choice (instance norm for the U-Net was tried before the grid: 12.82 against 17.65 with
# batch norm at 800 iterations, so group norm is its alternative here). LayerNorm is part of
# 3DSeg-T's architecture, so its other choice is decoupled weight decay.
MODELS: Dict[str, dict] = {
    '3dseg-t': dict(config='configs/3dseg/3dseg-t_1xb2-3k_synthrooms-32.py', lrs=(1e-3, 2e-3),
                    choices={f'wd{wd:g}': _wd(wd) for wd in (0, 0.05)}),
    'unet3d': dict(config='configs/unet3d/unet3d_1xb2-3k_synthrooms-32.py', lrs=(1e-3, 3e-3),
                   choices=UNET_NORMS),
    'sparseunet': dict(config='configs/sparseunet/sparseunet_1xb2-3k_synthrooms-32.py',
                       lrs=(1e-3, 3e-3), choices=SPARSE_NORMS),
    'swinunetr': dict(config='configs/swinunetr/swinunetr_1xb2-3k_synthrooms-32.py',
                      lrs=(1e-3, 3e-3), choices=SWIN_NORMS),
}
for _spec in MODELS.values():
    _spec['trials'] = {f'lr{lr:g}-{c}': _lr(lr) + opts for lr in _spec['lrs']
                       for c, opts in _spec['choices'].items()}
# A best learning rate at the edge of the rates tried gets one more trial a grid step further
# out (with the best trial's other choice), at most this many times per model: every model
# gets the same rule, so a grid that does not bracket a model's rate is widened alike.
EDGE_TRIALS = 2


def edge_trial(model: str, trials: Dict[str, dict]) -> Optional[Tuple[str, List[str]]]:
    """The next trial the edge rule asks of ``model`` given its finished ``trials`` (name ->
    record with ``mIoU``), or None when its best learning rate is inside the rates tried, its
    grid is not finished, or it had its :data:`EDGE_TRIALS`."""
    spec = MODELS[model]
    if not set(spec['trials']) <= set(trials) or len(trials) >= len(spec['trials']) + \
            EDGE_TRIALS:
        return None
    rate = {n: float(n.split('-', 1)[0][2:]) for n in trials}
    best = max(trials, key=lambda n: trials[n]['mIoU'])
    step = spec['lrs'][1] / spec['lrs'][0]
    if rate[best] == max(rate.values()):
        lr = rate[best] * step
    elif rate[best] == min(rate.values()):
        lr = rate[best] / step
    else:
        return None
    choice = best.split('-', 1)[1]
    return f'lr{lr:.3g}-{choice}', _lr(float(f'{lr:.3g}')) + spec['choices'][choice]


def trial_iters(model: str, seconds: float = TUNE_SECONDS) -> int:
    """Iterations of ``model`` in ``seconds`` of idle-machine training steps."""
    return max(1, round(seconds / STEP_SECONDS[model]))


def curve_iters(model: str, scale: int = 1) -> int:
    """Iterations of ``model``'s learning-curve runs: :data:`CURVE_POINTS` tuning trials
    (``scale`` times as many in the longer runs that test convergence)."""
    return scale * CURVE_POINTS * trial_iters(model)


def load_results() -> dict:
    return json.load(open(RESULTS)) if osp.isfile(RESULTS) else {}


def updating_results():
    """``benchmarks/baselines.json``, updated under a lock (the tune and curve stages may run
    side by side)."""
    return experiments.updating_json(RESULTS)


def best_recipe(model: str) -> List[str]:
    """The options of ``model``'s best tuning trial (chosen on the validation rooms)."""
    entry = load_results().get('tuning', {}).get(model, {})
    trials = entry.get('trials', {})
    done = {n: t for n, t in trials.items() if (t.get('iters'), t.get('warmup_iters')) ==
            (trial_iters(model), trial_iters(model, WARMUP_SECONDS))}
    if not set(MODELS[model]['trials']) <= set(done) or edge_trial(model, done):
        raise ValueError(f'{RESULTS}: {model} has not finished its tuning trials at '
                         f'{trial_iters(model)} iterations; run the tune stage first')
    return list(trials[entry['best']]['options'])


def tune(models: Sequence[str], data: str, out: str, seed: int = 0,
         extra: Sequence[str] = ()) -> None:
    """Every trial of ``models`` on the validation rooms; the best per model marked
    (``extra``: more ``--cfg-options`` of every trial, the driver's ``--options``)."""
    for model in models:
        spec = MODELS[model]
        iters, warmup = trial_iters(model), trial_iters(model, WARMUP_SECONDS)
        with updating_results() as results:
            entry = results.setdefault('tuning', {}).setdefault(model, dict(trials={}))
            entry.update(config=spec['config'], iters=iters, budget_seconds=TUNE_SECONDS,
                         step_seconds=STEP_SECONDS[model])
            entry.pop('estimated', None)
            # trials of another budget or warm-up (an older step-time measurement) are made
            # again
            entry['trials'] = {n: t for n, t in entry['trials'].items()
                               if (t.get('iters'), t.get('warmup_iters')) == (iters, warmup)}
        pending = list(spec['trials'].items())
        while pending:
            name, options = pending.pop(0)
            work = osp.join(out, 'tune', model, name)
            opts = (data_options(data) + schedule_options(iters) + warmup_options(model) +
                    TEST_WINDOW + list(options) +
                    [f'randomness.seed={seed}'] + list(extra))
            print(f'[tune] {model} {name}: {iters} iterations', flush=True)
            record = experiments.train_and_test(work, spec['config'], opts,
                                                osp.join(out, f'tune_{model}_{name}'),
                                                split='validation')
            with updating_results() as results:
                trials = results['tuning'][model]['trials']
                trials[name] = dict(options=list(options), seed=seed, iters=iters,
                                    warmup_iters=warmup,
                                    train_seconds=record['train_seconds'], **record['metrics'])
                results['tuning'][model]['best'] = max(trials, key=lambda n: trials[n]['mIoU'])
                nxt = edge_trial(model, trials) if not pending else None
            if nxt:
                print(f'[tune] {model}: the best learning rate is at the edge of the rates '
                      f'tried; one more trial, {nxt[0]}', flush=True)
                pending.append(nxt)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('stage', choices=['tune', 'curves', 'report', 'park'],
                   help='park: copy the stopped curve runs of --scale into --parked '
                   '(studies/carried_runs.py), so that the curves stage continues them on '
                   'another machine')
    p.add_argument('--models', nargs='+', default=list(MODELS), choices=list(MODELS))
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--data', default=experiments.STUDY_DATA)
    p.add_argument('--out', default='work_dirs/baselines')
    p.add_argument('--scale', type=int, default=1,
                   help='curves: runs this many times the curve budget, still validated at '
                   f'{CURVE_POINTS} points (does the model converge?); kept apart from the '
                   'comparison, under curves-x<scale> in --out and the results')
    p.add_argument('--parked', metavar='DIR',
                   help='park: the folder the stopped runs are copied into (outside the '
                   'repository); curves: restore the runs parked there into an empty work dir')
    experiments.add_options_argument(
        p, 'every trial and curve run',
        '; the study with them is recorded in --out/baselines.json (its report beside it), '
        'never in benchmarks/', example='train_dataloader.num_workers=0 (the budgets set the '
        'iterations)')
    args = p.parse_args(argv)
    if args.scale < 1:
        p.error(f'--scale: a budget multiple must be >= 1, got {args.scale}')
    experiments.exit_on_sigterm()
    os.chdir(ROOT)
    os.makedirs(args.out, exist_ok=True)
    if args.options:  # another study: its trials, curves and report stay in --out
        global RESULTS
        RESULTS = osp.abspath(osp.join(args.out, 'baselines.json'))
    ensure_rooms(args.data, 96, args.out, split='validation')
    if args.stage == 'tune':
        tune(args.models, args.data, args.out, extra=args.options)
        results = load_results()
        for model in args.models:
            entry = results['tuning'][model]
            print(f"{model}: best {entry['best']} "
                  f"({entry['trials'][entry['best']]['mIoU']:.2f} validation mIoU)")
    elif args.stage == 'curves':
        from studies.learning_curves import report, run_curves
        run_curves(args.models, args.seeds, args.data, args.out, args.options, args.scale,
                   args.parked)
        report(args.data, extra=args.options)
    elif args.stage == 'park':
        from studies import carried_runs
        from studies.learning_curves import curves_key
        if not args.parked:
            p.error('park: --parked DIR, the folder to copy the stopped runs into')
        parked = carried_runs.park(args.out, curves_key(args.scale), args.data, args.parked)
        for run, what in parked.items():
            print(f'[park] {curves_key(args.scale)} {run}: {what}', flush=True)
        if not parked:
            print(f'[park] no runs under {osp.join(args.out, curves_key(args.scale))}')
    else:
        from studies.learning_curves import report
        report(args.data, extra=args.options)


if __name__ == '__main__':
    main()
