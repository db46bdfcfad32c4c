# Copyright (c) 3D Segmenter authors. All rights reserved.
"""CPU recipe study of the embedded 2D teacher (mmseg's Segmenter), on VALIDATION panoramas.

    python studies/teacher_study.py --data data/synthrooms-study --out work_dirs/teacher_study

The teacher trains on every panorama in ``images/training`` (the rooms' own views and the
``experiments.VIEWS - 1`` extra views ``tools/data/render_views.py`` renders first: 2D data is
what is cheap) and is scored on the
validation rooms' own panoramas, the view distillation uses. Each row is a config file
(``ROWS``; the study's own under ``configs/teacher/ablations/``, which say what their row
measures): the patch size, the schedule, the panoramas trained on and the crop. The driver adds
the run inputs: the data roots, the ``-balanced`` rows' class weights and a continued row's
``load_from``. The class weights (cross entropy weighted by the square root of the inverse
class frequency) are counted from the training annotations of the roots the run trains on, so
they are data, not recipe: the same file trains another set of rooms with that set's
weights. ``-pano2d`` rows also train on the panoramas of ``--pano2d`` rooms, which have no 3D
labels for the student (made if absent: 960 rooms, 20x the study's 48 labelled ones, from
another generator seed). A row continued from another (``init``) starts from that row's last
checkpoint, a new warm-up and decay on top of it. Writes ``OUT/teacher_study.md`` and
``OUT/teacher_study.json`` (``{row: {"mIoU", "mAcc", "aAcc", "train_seconds", "iters",
"panoramas", "config"}}``); a finished row is reused.
"""
import argparse
import functools
import json
import os
import os.path as osp
import sys
from typing import List, NamedTuple, Optional, Sequence, Tuple

from mmengine.config import Config

# the repository (studies/ is not installed with the package)
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from studies import experiments  # noqa: E402
from studies.class_weights import balanced_class_weights, label_frequencies  # noqa: E402
from studies.experiments import ROOT, data_options, pano2d_options  # noqa: E402

PANO2D = 'configs/teacher/segmenter_vit-t_mask_1xb4-4k_synthrooms+pano2d-{}.py'
ABLATIONS = 'configs/teacher/ablations'


class Row(NamedTuple):
    """One teacher row: its config (the recipe), whether the run adds the class weights of its
    training annotations (``class_weight_option``) and the row whose last checkpoint it starts
    from (``load_from``; a new warm-up and decay on top of it)."""
    config: str
    balanced: bool = False
    init: Optional[str] = None


P16_1K = f'{ABLATIONS}/segmenter_vit-t-p16_mask_1xb4-1k_synthrooms-128x256.py'
P16_4K = f'{ABLATIONS}/segmenter_vit-t-p16_mask_1xb4-4k_synthrooms-128x256.py'
# native resolution: 256x128 crops of the 256x512 panoramas, slid at test time
CROP = PANO2D.format('256x128')
CROP_8K = f'{ABLATIONS}/segmenter_vit-t-p16_mask_1xb4-8k_synthrooms+pano2d-256x128.py'
ROWS = {
    'p16-1k': Row(P16_1K),
    'p8-1k': Row(f'{ABLATIONS}/segmenter_vit-t-p8_mask_1xb4-1k_synthrooms-128x256.py'),
    'p16-1k-balanced': Row(P16_1K, balanced=True),
    'p16-4k': Row(P16_4K),
    'p16-4k-balanced': Row(P16_4K, balanced=True),
    'p16-4k-balanced-pano2d': Row(PANO2D.format('128x256'), balanced=True),
    'p16-4k-balanced-pano2d-crop': Row(CROP, balanced=True),
    'p16-8k-balanced-pano2d-crop': Row(CROP_8K, balanced=True),
    # the 8k teacher was still improving at its end: 12k more iterations from its weights
    'p16-8k+12k-balanced-pano2d-crop': Row(
        f'{ABLATIONS}/segmenter_vit-t-p16_mask_1xb4-12k_synthrooms+pano2d-256x128.py',
        balanced=True, init='p16-8k-balanced-pano2d-crop'),
    'p16-20k+8k-balanced-pano2d-crop': Row(CROP_8K, balanced=True,
                                           init='p16-8k+12k-balanced-pano2d-crop'),
}
PANO2D_ROOMS = 960
VALIDATION = ['test_dataloader.dataset.data_prefix.img_path=images/validation',
              'test_dataloader.dataset.data_prefix.seg_map_path=annotations/validation']


def class_weight_option(roots: Sequence[str], num_classes: int = 30) -> str:
    """``--cfg-options`` item weighting the teacher's cross entropy by the class frequency of
    the training annotations of the ``roots``: a run input, not a config's, since the weights
    are counted from whichever rooms the run trains on."""
    folders = [osp.join(root, 'annotations', 'training') for root in roots]
    paths = [osp.join(d, f) for d in folders for f in sorted(os.listdir(d)) if f.endswith('.png')]
    weights = balanced_class_weights(label_frequencies(paths, num_classes))
    return 'model.decode_head.loss_decode.class_weight=[' + ','.join(map(str, weights)) + ']'


def ensure_pano2d_rooms(pano2d: str, log: str) -> None:
    """The panorama-only rooms: the study's generator settings, seed 1 (no room in common with
    the seed-0 study rooms), all in the training split."""
    if osp.isfile(osp.join(pano2d, 'splits', 'training.txt')):
        return
    experiments.run(experiments.python_tool(
        'tools/data/generate_synthrooms.py', '--out', pano2d, '--num-rooms', str(PANO2D_ROOMS),
        '--seed', '1', '--split', '1', '0', '0', *experiments.STUDY_ROOMS), log)


@functools.lru_cache(maxsize=None)
def _config(path: str) -> Config:
    return Config.fromfile(osp.join(ROOT, path))


def trains_on_pano2d(row: str) -> bool:
    """Whether a row's config also trains on the panorama-only rooms (a ``ConcatDataset`` of
    the labelled rooms, ``datasets.0``, and those, ``datasets.1``)."""
    return _config(ROWS[row].config).train_dataloader.dataset.type == 'ConcatDataset'


def total_iters(row: str, options: Sequence[str] = ()) -> int:
    """The iterations behind a row's teacher, those of the rows it starts from included (each
    row's config with ``options``, the driver's ``--options``, applied)."""
    config = ROWS[row].config
    own = (experiments.run_iters(config, options) if options
           else _config(config).train_cfg.max_iters)
    return own + (total_iters(ROWS[row].init, options) if ROWS[row].init else 0)


def init_checkpoint(out: str, row: str) -> str:
    """The checkpoint of a finished ``row`` of the study in ``out``, which another row starts
    from."""
    record = osp.join(out, row, 'record_validation.json')
    if not osp.isfile(record):
        raise FileNotFoundError(f'{record}: run the row {row!r} first (--rows {row} ...)')
    return json.load(open(record))['checkpoint']


def run_inputs(row: str, data: str, pano2d: str, out: str,
               extra: Sequence[str] = ()) -> Tuple[List[str], List[str]]:
    """The roots a row trains on and the ``--cfg-options`` its run adds to its config: the data
    roots, the class weights of those roots (``-balanced``), the checkpoint of the row it
    starts from (``init``) and ``extra`` (the driver's ``--options``)."""
    if trains_on_pano2d(row):
        roots, options = [data, pano2d], pano2d_options(data, pano2d)
    else:
        roots, options = [data], data_options(data)
    if ROWS[row].balanced:
        options.append(class_weight_option(roots))
    if ROWS[row].init:
        options.append(f'load_from={init_checkpoint(out, ROWS[row].init)}')
    return roots, options + list(extra)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default=experiments.STUDY_DATA)
    p.add_argument('--out', default='work_dirs/teacher_study')
    p.add_argument('--rows', nargs='+', choices=list(ROWS), default=list(ROWS))
    p.add_argument('--pano2d', default=experiments.STUDY_PANO2D,
                   help='panorama-only rooms of the -pano2d rows (generated if absent)')
    experiments.add_options_argument(p)
    args = p.parse_args(argv)
    experiments.exit_on_sigterm()
    os.chdir(ROOT)
    os.makedirs(args.out, exist_ok=True)
    images = osp.join(args.data, 'images', 'training')
    if not osp.isdir(images):
        sys.exit(f'error: {images}: no training panoramas (generate rooms first)')
    # every row trains on the labelled rooms' extra views too (skipped when rendered)
    experiments.render_views(args.data, osp.join(args.out, 'render_views.log'))
    results = {}
    for name in args.rows:
        config = ROWS[name].config
        if trains_on_pano2d(name):
            ensure_pano2d_rooms(args.pano2d, osp.join(args.out, 'generate_pano2d.log'))
        roots, options = run_inputs(name, args.data, args.pano2d, args.out, args.options)
        iters = total_iters(name, args.options)
        record = experiments.train_and_test(
            osp.join(args.out, name), config, options, osp.join(args.out, name),
            split='validation', keys=('mIoU', 'mAcc', 'aAcc'), test_options=VALIDATION)
        panoramas = sum(len([f for f in os.listdir(osp.join(root, 'images', 'training'))
                             if f.endswith('.png')]) for root in roots)
        results[name] = dict(record['metrics'], train_seconds=record['train_seconds'],
                             iters=iters, panoramas=panoramas, config=config)
        print(f'  {name:<8} {iters:>5} iters {record["train_seconds"]:7.0f} s  ' +
              '  '.join(f'{k} {v:.2f}' for k, v in record['metrics'].items()), flush=True)
    lines = [f'## Teacher study on {args.data}, scored on the validation rooms\' own panoramas',
             '',
             f'Command: `python studies/teacher_study.py --data {args.data} --out {args.out}`.',
             '', '| row | mIoU | mAcc | aAcc | iterations | training panoramas | train s | '
             'config |', '|---' * 8 + '|']
    lines += [f"| {n} | {r['mIoU']:.2f} | {r['mAcc']:.2f} | {r['aAcc']:.2f} | {r['iters']} | "
              f"{r['panoramas']} | {r['train_seconds']:.0f} | `{r['config']}` |"
              for n, r in results.items()]
    print('\n' + experiments.write_report(args.out, 'teacher_study', results, lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
