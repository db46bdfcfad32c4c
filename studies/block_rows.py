# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The block-trained rows of the paper tables (studies/paper_tables.py): their configs, the
U-Net's equal-wall-clock budget, one run of one seed and each row's parameters and
inference seconds.

Each row is a config file (``SCHEDULED``: ``configs/*/*_1xb2-800_synthrooms-32.py`` for
``--iters 800``, the ``-3k`` configs for 3000); other ``--iters`` and the equal-wall-clock U-Net
run the ``-3k`` config with its decay stretched to the run's end.
"""
import json
import os.path as osp
from typing import Tuple

from segmenter3d.apis import init_segmentor
from studies import experiments
from studies.experiments import data_options, schedule_options, time_inference

CONFIGS = {
    '3dseg-t': 'configs/3dseg/3dseg-t_1xb2-3k_synthrooms-32.py',
    '3dseg-b': 'configs/3dseg/3dseg-b_1xb2-3k_synthrooms-32.py',
    'unet3d-equal-iters': 'configs/unet3d/unet3d_1xb2-3k_synthrooms-32.py',
    'unet3d': 'configs/unet3d/unet3d_1xb2-3k_synthrooms-32.py',
    '3dseg-t-noskip': 'configs/3dseg/3dseg-t-noskip_1xb2-3k_synthrooms-32.py',
}
ORDER = list(CONFIGS)
# The rows at the iterations they are run with, each a config (its schedule's decay ends at the
# run's end); other --iters run the 3k config with the decay stretched to them. The
# equal-wall-clock ``unet3d`` is never here: its iterations are measured, not chosen, so it
# keeps its schedule as options.
SCHEDULED = {
    800: {
        '3dseg-t': 'configs/3dseg/3dseg-t_1xb2-800_synthrooms-32.py',
        '3dseg-b': 'configs/3dseg/3dseg-b_1xb2-800_synthrooms-32.py',
        'unet3d-equal-iters': 'configs/unet3d/unet3d_1xb2-800_synthrooms-32.py',
        '3dseg-t-noskip': 'configs/3dseg/3dseg-t-noskip_1xb2-800_synthrooms-32.py',
    },
    3000: {name: config for name, config in CONFIGS.items() if name != 'unet3d'},
}
# equal wall-clock within this fraction of the iterations: the equal-iteration run is reused
SAME_RUN = 0.05
METRICS = ('mIoU', 'surface_mIoU', 'mAcc', 'aAcc')


def equal_time_iters(iters: int, budget_seconds: float, seconds_for_iters: float) -> int:
    """Iterations that take ``budget_seconds`` for a run that took ``seconds_for_iters`` to do
    ``iters`` (its seconds per iteration, startup included, as measured)."""
    return max(1, round(iters * budget_seconds / seconds_for_iters))


def run_config(name: str, iters: int) -> Tuple[str, list]:
    """The config of a block-training row at ``iters`` iterations and the schedule options
    it still needs (none when ``SCHEDULED`` has the row at those iterations)."""
    config = SCHEDULED.get(iters, {}).get(name)
    if config is not None:
        return config, []
    return CONFIGS[name], schedule_options(iters)


def train_and_test(args, name, seed, iters):
    """One run of one seed, trained (unless finished before) and tested on the test rooms
    (``args.options``: more ``--cfg-options`` of the run)."""
    config, schedule = run_config(name, iters)
    options = data_options(args.data) + [f'randomness.seed={seed}'] + schedule + list(
        args.options)
    record = experiments.train_and_test(osp.join(args.out, f'seed{seed}', name), config,
                                        options, osp.join(args.out, f'seed{seed}_{name}'))
    # the iterations it ran: --iters, unless --options set them
    record['iters'] = experiments.run_iters(config, options) if args.options else iters
    print(f'  seed {seed} {name:<20} {record["iters"]:>5} iters '
          f'{record["train_seconds"]:7.0f} s  ' +
          '  '.join(f'{k} {v:.2f}' for k, v in record['metrics'].items()), flush=True)
    return record


def add_complexity(args, results: dict, volumes: list) -> None:
    """Parameters and (unless ``--repeats 0``) inference seconds of each block-trained run's
    first-seed checkpoint over the test rooms."""
    first = osp.join(args.out, f'seed{args.seeds[0]}')
    for name in [n for n in ORDER if n in results]:
        run_dir = name if osp.isdir(osp.join(first, name)) else 'unet3d-equal-iters'
        ckpt = json.load(open(osp.join(first, run_dir, 'record_test.json')))['checkpoint']
        if args.repeats > 0:
            params, seconds = time_inference(CONFIGS[name], ckpt, volumes, args.repeats)
            results[name].update(params=params, inference_seconds=round(seconds, 3))
        else:  # timing skipped: parameters only
            model = init_segmentor(CONFIGS[name])
            results[name].update(params=sum(p.numel() for p in model.parameters()))
