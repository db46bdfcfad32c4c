# Copyright (c) 3D Segmenter authors. All rights reserved.
"""CPU recipe study on generated rooms, scored on the VALIDATION rooms (never the test rooms).

    python studies/recipe_study.py --data data/synthrooms-study --out work_dirs/recipe_study

Each row trains one model under one recipe (patch size, crop, iterations) with the CPU
schedule (warm-up, then linear decay stretched to the run's length) and slides the 32^3 test
window (stride 16) over the validation rooms. Each row is a config file (``ROWS``, under
``configs/3dseg/ablations/`` and ``configs/unet3d/ablations/``, which say what their row
measures); the driver adds the run inputs, the data root and the seed. Rows compare at equal
iterations and at about equal training wall-clock (3DSeg-T at patch 4 does about 4 steps in
the time of one at patch 2 or of a 3D U-Net step). Writes ``OUT/recipe_study.md`` and
``OUT/recipe_study.json`` (``{row: {"mIoU", "surface_mIoU", "train_seconds", "iters",
"params", "inference_seconds", "config"}}``). A row whose work dir already holds a finished
run of the same config and options is reused.
"""
import argparse
import os
import os.path as osp
import sys

from segmenter3d.datasets import load_room, room_to_input

# the repository (studies/ is not installed with the package)
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from studies import experiments  # noqa: E402
from studies.experiments import ROOT, data_options, time_inference  # noqa: E402

# row -> its config: the model, its patch size and the iterations (every row tests with 32^3
# windows, stride 16, validated and checkpointed once, at the end)
ROWS = {
    't-p2-1k': 'configs/3dseg/ablations/3dseg-t-p2_1xb2-1k_synthrooms-32.py',
    'unet-1k': 'configs/unet3d/ablations/unet3d-base16_1xb2-1k_synthrooms-32.py',
    't-p4-4k': 'configs/3dseg/ablations/3dseg-t-p4_1xb2-4k_synthrooms-32.py',
    't-p2-3k': 'configs/3dseg/ablations/3dseg-t-p2_1xb2-3k_synthrooms-32.py',
    'b-p2-1k': 'configs/3dseg/ablations/3dseg-b-p2_1xb2-1k_synthrooms-32.py',
    'unet-3k': 'configs/unet3d/ablations/unet3d-base16_1xb2-3k_synthrooms-32.py',
}
SEED = 0


def run_row(args, name):
    """Train and test a row: its config with the data root, the seed and ``--options``
    added; its iterations are the run's (its config's unless ``--options`` change them)."""
    config = ROWS[name]
    options = data_options(args.data) + [f'randomness.seed={SEED}'] + list(args.options)
    record = experiments.train_and_test(osp.join(args.out, name), config, options,
                                        osp.join(args.out, name), split='validation')
    record['iters'] = experiments.run_iters(config, options)
    return record, config


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default=experiments.STUDY_DATA)
    p.add_argument('--out', default='work_dirs/recipe_study')
    p.add_argument('--rows', nargs='+', choices=list(ROWS), default=list(ROWS)[:3])
    experiments.add_options_argument(p)
    args = p.parse_args(argv)
    experiments.exit_on_sigterm()
    os.chdir(ROOT)
    os.makedirs(args.out, exist_ok=True)
    names = experiments.ensure_rooms(args.data, 96, args.out, split='validation')
    volumes = [room_to_input(load_room(osp.join(args.data, 'volumes', f'{n}.npz')))
               for n in names]
    results = {}
    for name in args.rows:
        record, config = run_row(args, name)
        params, seconds = time_inference(config, record['checkpoint'], volumes, repeats=1)
        results[name] = dict(**record['metrics'], train_seconds=record['train_seconds'],
                             iters=record['iters'], params=params,
                             inference_seconds=round(seconds, 2), config=config)
    lines = [f'## Recipe study on {args.data} ({len(volumes)} validation rooms, seed {SEED})', '',
             '| row | mIoU | surface mIoU | iterations | train s | params | '
             'inference s (validation rooms) |', '|---' * 7 + '|']
    for name, r in results.items():
        lines.append(f"| {name} | {r['mIoU']:.2f} | {r['surface_mIoU']:.2f} | {r['iters']} | "
                     f"{r['train_seconds']:.0f} | {r['params']:,} | "
                     f"{r['inference_seconds']:.1f} |")
    print(experiments.write_report(args.out, 'recipe_study', results, lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
