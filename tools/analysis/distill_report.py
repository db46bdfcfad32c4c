# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Student before vs after distillation on the same rooms, with the teacher beside them.

    python tools/analysis/distill_report.py STUDENT_CONFIG BEFORE.pth AFTER.pth \
        --control CONTROL.pth --teacher-config T.py --teacher-checkpoint T.pth \
        --data-root data/synthrooms --out DIR

Writes ``DIR/distill_report.md`` (voxel mIoU over all and surface voxels, panorama mIoU of the
students projected from the room camera and of the teacher; with ``--control``, the same
room-level fine-tuning without the KD term as a row of its own) and ``DIR/<room>_distill.png``
(panorama RGB | ground truth | teacher | student before | [control] | student after).
"""
import argparse
import os
import os.path as osp
import sys

import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.utils import track_iter_progress
from mmseg.evaluation.metrics import IoUMetric

from segmenter3d.apis import init_segmentor
from segmenter3d.datasets import load_room, room_to_input
from segmenter3d.datasets.image_size import check_image_pixels
from segmenter3d.datasets.volume_dataset import read_split_file
from segmenter3d.engine.runtime import check_output_folder, report_bad_input
from segmenter3d.evaluation import VolumeIoUMetric
from segmenter3d.fileio import is_inside, write_text_atomic
from segmenter3d.models.segmentors import panorama_logits, pipeline_resize
from segmenter3d.rendering import TSDFRaycaster, room_camera
from segmenter3d.synthrooms.generate import check_pano_size
from segmenter3d.taxonomy import PANOROOMS3D_CLASSES, PANOROOMS3D_PALETTE
from segmenter3d.visualization import colorize, label_tile, with_legend, write_png

TITLES = {'teacher': 'teacher', 'before': 'student before', 'control': 'control (no KD)',
          'after': 'student after'}
ROWS = {'before': 'student before distillation',
        'control': 'control: the same room fine-tuning without KD',
        'after': 'student after distillation'}


def mean_iou(areas):
    s = VolumeIoUMetric.summarise(areas)
    return 100 * float(np.nanmean(s['IoU']))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('before')
    p.add_argument('after')
    p.add_argument('--control', help='the no-KD control: the same fine-tuning without KD')
    p.add_argument('--teacher-config', required=True)
    p.add_argument('--teacher-checkpoint', required=True)
    p.add_argument('--data-root', default='data/synthrooms')
    p.add_argument('--split', default='test')
    p.add_argument('--pano-size', type=int, nargs=2, default=(128, 256))
    p.add_argument('--out', required=True)
    args = p.parse_args(argv)
    names = check_inputs(args)  # the cheap checks first: the models load for minutes
    torch.set_grad_enabled(False)
    # a distillation config is reduced to its student by init_segmentor
    students = {'before': init_segmentor(args.config, args.before)}
    if args.control:
        students['control'] = init_segmentor(args.config, args.control)
    students['after'] = init_segmentor(args.config, args.after)
    teacher = init_segmentor(args.teacher_config, args.teacher_checkpoint)
    resize = pipeline_resize(Config.fromfile(args.teacher_config))
    caster = TSDFRaycaster(*args.pano_size)
    voxel = {k: [] for k in students}
    surface = {k: [] for k in students}
    pano = {k: [] for k in list(students) + ['teacher']}
    os.makedirs(args.out, exist_ok=True)
    for name in track_iter_progress(names):
        room = load_room(osp.join(args.data_root, 'volumes', f'{name}.npz'))
        volume = torch.from_numpy(room_to_input(room))
        labels = torch.from_numpy(room['labels'].astype(np.int64))
        # release rooms store no camera: the one rule (room centre) applies
        camera = torch.from_numpy(room_camera(room['tsdf'].shape, room.get('camera')))
        hits = caster.cast(torch.from_numpy(room['tsdf']), camera)
        inside = hits.behind(camera)
        gt_pano = caster.project(labels[None].float(), inside, mode='nearest',
                                 fill=255)[0].long()
        image = load_panorama(osp.join(args.data_root, 'images', args.split, f'{name}.png'))
        image = torch.from_numpy(image.transpose(2, 0, 1).copy())
        preds = {'teacher': panorama_logits(teacher, image, args.pano_size, resize).argmax(0)}
        mask = (volume[0].abs() < 1)
        for key, model in students.items():
            logits = model.inference(volume[None])[0]
            pred = logits.argmax(0)
            voxel[key].append(IoUMetric.intersect_and_union(pred, labels, 30, 255))
            surface[key].append(IoUMetric.intersect_and_union(pred[mask], labels[mask], 30, 255))
            preds[key] = caster.project(logits, inside).argmax(0)
        for key, pred in preds.items():
            pano[key].append(IoUMetric.intersect_and_union(pred, gt_pano, 30, 255))
        rgb = ((caster.project(volume[1:], hits).permute(1, 2, 0).numpy() + 1) *
               127.5).clip(0, 255).astype(np.uint8)
        tiles = [label_tile(rgb, 'input'),
                 label_tile(colorize(gt_pano.numpy(), PANOROOMS3D_PALETTE), 'ground truth')]
        drawn = [gt_pano.numpy()]
        for key, title in TITLES.items():
            if key not in preds:
                continue
            shown = np.where(hits.valid.numpy(), preds[key].numpy(), 255)
            tiles.append(label_tile(colorize(shown, PANOROOMS3D_PALETTE), title))
            drawn.append(shown)
        write_png(osp.join(args.out, f'{name}_distill.png'),
                  with_legend(np.concatenate(tiles, axis=0), PANOROOMS3D_PALETTE,
                              PANOROOMS3D_CLASSES, drawn))

    rows = [(ROWS[key], mean_iou(voxel[key]), mean_iou(surface[key]), mean_iou(pano[key]))
            for key in students]
    rows.append(('2D teacher (panorama only)', None, None, mean_iou(pano['teacher'])))
    table = ['| model | voxel mIoU | surface mIoU | panorama mIoU (pixels with a surface) |',
             '|---|---|---|---|']
    table += ['| ' + ' | '.join([n] + ['—' if v is None else f'{v:.2f}' for v in values]) + ' |'
              for n, *values in rows]
    text = (f'# Distillation, {len(names)} {args.split} rooms of {args.data_root}\n\n'
            + '\n'.join(table) + '\n\nPictures: <room>_distill.png = panorama RGB | ground truth | '
            + ' | '.join(TITLES[k] for k in ['teacher'] + list(students))
            + ', and a legend of the classes in view.\n')
    write_text_atomic(osp.join(args.out, 'distill_report.md'), text)
    print('\n' + text)
    return 0


def check_inputs(args) -> list:
    """The split's room names, after checking ``--out`` (a folder of its own, outside the
    data) and ``--pano-size``."""
    check_output_folder(args.out, '--out')
    if is_inside(args.out, [args.data_root]):
        raise ValueError(f'--out {args.out}: inside --data-root {args.data_root}, which holds '
                         'the inputs; write the report elsewhere')
    check_pano_size(list(args.pano_size))
    return [name for _, name in read_split_file(
        osp.join(args.data_root, 'splits', f'{args.split}.txt'))]


def load_panorama(path: str) -> np.ndarray:
    """(H, W, 3) BGR of a room's own panorama; its header checked before it is decoded."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: panorama not found')
    check_image_pixels(path)
    image = mmcv.imread(path)
    if image is None:
        raise ValueError(f'{path}: cannot be decoded as an image')
    return image


if __name__ == '__main__':
    sys.exit(report_bad_input(main))
