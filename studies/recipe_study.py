# Copyright (c) 3D Segmenter authors. All rights reserved.
"""CPU recipe study on generated rooms, scored on the VALIDATION rooms (never the test rooms).

    python studies/recipe_study.py --data data/study --out work_dirs/recipe_study

Each row trains one model under one recipe (patch size, crop, iterations) with the CPU
schedule (warm-up, then linear decay stretched to the run's length) and slides the 32^3 test
window (stride 16) over the validation rooms. Rows compare at equal iterations and at about
equal training wall-clock (3DSeg-T at patch 4 does about 4 steps in the time of one at
patch 2 or of a 3D U-Net step). Writes ``OUT/recipe_study.md`` and ``OUT/recipe_study.json``
(``{row: {"mIoU", "surface_mIoU", "train_seconds", "iters", "params",
"inference_seconds"}}``). A row whose work dir already holds a finished run of the same config and
options is reused.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

from segmenter3d.datasets import load_room, room_to_input

# the repository (studies/ is not installed with the package)
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from studies import experiments  # noqa: E402
from studies.experiments import ROOT, data_options, schedule_options, time_inference  # noqa: E402

T = 'configs/3dseg/3dseg-t_1xb2-3k_synthrooms-32.py'
B = 'configs/3dseg/3dseg-b_1xb2-3k_synthrooms-32.py'
UNET = 'configs/unet3d/unet3d_1xb2-3k_synthrooms-32.py'
# row -> (config, iterations, extra options); every row tests with 32^3 windows, stride 16
ROWS = {
    't-p2-1k': (T, 1000, ['model.backbone.patch_size=2']),
    'unet-1k': (UNET, 1000, []),
    't-p4-4k': (T, 4000, ['model.backbone.patch_size=4']),
    't-p2-3k': (T, 3000, ['model.backbone.patch_size=2']),
    'b-p2-1k': (B, 1000, ['model.backbone.patch_size=2']),
    'unet-3k': (UNET, 3000, []),
}
TEST_WINDOW = ['model.test_cfg.crop_size=32', 'model.test_cfg.stride=16']
def run_row(args, name):
    config, iters, extra = ROWS[name]
    w = osp.join(args.out, name)
    options = (data_options(args.data) + schedule_options(iters) + TEST_WINDOW + extra +
               ['randomness.seed=0'])
    record = experiments.train_and_test(w, config, options, osp.join(args.out, name),
                                        split='validation')
    record['iters'] = iters
    return record, config, options


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default='data/study')
    p.add_argument('--out', default='work_dirs/recipe_study')
    p.add_argument('--rows', nargs='+', choices=list(ROWS), default=list(ROWS)[:3])
    args = p.parse_args(argv)
    os.chdir(ROOT)
    os.makedirs(args.out, exist_ok=True)
    names = experiments.ensure_rooms(args.data, 96, args.out, split='validation')
    volumes = [room_to_input(load_room(osp.join(args.data, 'volumes', f'{n}.npz')))
               for n in names]
    results = {}
    for name in args.rows:
        record, config, options = run_row(args, name)
        cfg = Config.fromfile(config)  # the row's model, as --cfg-options parse its values
        cfg.merge_from_dict({k: DictAction._parse_iterable(v)
                             for k, v in (o.split('=', 1) for o in options
                                          if o.startswith('model.'))})
        params, seconds = time_inference(cfg, record['checkpoint'], volumes, repeats=1)
        results[name] = dict(**record['metrics'], train_seconds=record['train_seconds'],
                             iters=record['iters'], params=params,
                             inference_seconds=round(seconds, 2))
    lines = [f'## Recipe study on {args.data} ({len(volumes)} validation rooms, seed 0)', '',
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
