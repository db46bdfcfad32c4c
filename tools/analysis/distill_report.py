# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Student before vs after distillation on the same rooms, with the teacher beside them.

    python tools/analysis/distill_report.py STUDENT_CONFIG BEFORE.pth AFTER.pth \
        --teacher-config T.py --teacher-checkpoint T.pth --data-root data/synthrooms --out DIR

Writes ``DIR/distill_report.md`` (voxel mIoU over all and surface voxels, panorama mIoU of the
student projected from the room camera and of the teacher) and ``DIR/<room>_distill.png``
(panorama RGB | ground truth | teacher | student before | student after).
"""
import argparse
import os
import os.path as osp

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import load_checkpoint
from mmengine.utils import track_iter_progress
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import MODELS

import segmenter3d  # noqa: F401
from segmenter3d.datasets import load_room, room_to_input
from segmenter3d.evaluation import VolumeIoUMetric
from segmenter3d.rendering import TSDFRaycaster
from segmenter3d.taxonomy import PANOROOMS3D_PALETTE
from segmenter3d.utils import trust_own_checkpoints
from segmenter3d.visualization import colorize, write_png


def build(config, checkpoint):
    model = MODELS.build(Config.fromfile(config).model if isinstance(config, str) else config)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=False)
    return model.eval()


def student_config(config):
    cfg = Config.fromfile(config).model
    if cfg.type == 'PanoDistiller':  # evaluate the student only
        for key in ('teacher_config', 'teacher_checkpoint', 'raycaster', 'distill_loss',
                    'cache_teacher_logits'):
            cfg.pop(key, None)
        cfg.type = 'VolumeEncoderDecoder'
    return cfg


def mean_iou(areas):
    s = VolumeIoUMetric.summarise(areas)
    return 100 * float(np.nanmean(s['IoU']))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('before')
    p.add_argument('after')
    p.add_argument('--teacher-config', required=True)
    p.add_argument('--teacher-checkpoint', required=True)
    p.add_argument('--data-root', default='data/synthrooms')
    p.add_argument('--split', default='test')
    p.add_argument('--pano-size', type=int, nargs=2, default=(128, 256))
    p.add_argument('--out', required=True)
    args = p.parse_args()
    init_default_scope('mmseg')
    trust_own_checkpoints()
    torch.set_grad_enabled(False)
    cfg = student_config(args.config)
    students = {'before': build(cfg, args.before), 'after': build(cfg, args.after)}
    teacher = build(args.teacher_config, args.teacher_checkpoint)
    caster = TSDFRaycaster(*args.pano_size)
    names = open(osp.join(args.data_root, 'splits', f'{args.split}.txt')).read().split()
    voxel = {k: [] for k in students}
    surface = {k: [] for k in students}
    pano = {k: [] for k in list(students) + ['teacher']}
    os.makedirs(args.out, exist_ok=True)
    for name in track_iter_progress(names):
        room = load_room(osp.join(args.data_root, 'volumes', f'{name}.npz'))
        volume = torch.from_numpy(room_to_input(room))
        labels = torch.from_numpy(room['labels'].astype(np.int64))
        camera = torch.from_numpy(room['camera'])
        hits = caster.cast(volume[0], camera)
        inside = hits.behind(camera)
        gt_pano = caster.project(labels[None].float(), inside, mode='nearest',
                                 fill=255)[0].long()
        image = mmcv.imread(osp.join(args.data_root, 'images', args.split, f'{name}.png'))
        data = teacher.data_preprocessor(dict(inputs=[torch.from_numpy(
            image.transpose(2, 0, 1).copy())]), False)
        meta = dict(img_shape=image.shape[:2], ori_shape=image.shape[:2],
                    pad_shape=tuple(data['inputs'].shape[2:]))
        t_logits = teacher.inference(data['inputs'], [meta])
        preds = {'teacher': F.interpolate(t_logits, size=args.pano_size, mode='bilinear',
                                          align_corners=False)[0].argmax(0)}
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
        tiles = [rgb, colorize(gt_pano.numpy(), PANOROOMS3D_PALETTE)] + [
            colorize(np.where(hits.valid.numpy(), preds[k].numpy(), 255), PANOROOMS3D_PALETTE)
            for k in ('teacher', 'before', 'after')
        ]
        write_png(osp.join(args.out, f'{name}_distill.png'), np.concatenate(tiles, axis=0))

    rows = [('student before distillation', mean_iou(voxel['before']),
             mean_iou(surface['before']), mean_iou(pano['before'])),
            ('student after distillation', mean_iou(voxel['after']), mean_iou(surface['after']),
             mean_iou(pano['after'])),
            ('2D teacher (panorama only)', float('nan'), float('nan'), mean_iou(pano['teacher']))]
    table = ['| model | voxel mIoU | surface mIoU | panorama mIoU |', '|---|---|---|---|']
    table += [f'| {n} | {a:.2f} | {b:.2f} | {c:.2f} |' for n, a, b, c in rows]
    text = (f'# Distillation, {len(names)} {args.split} rooms of {args.data_root}\n\n'
            + '\n'.join(table) + '\n\nPictures: <room>_distill.png = panorama RGB | ground truth |'
            ' teacher | student before | student after.\n')
    with open(osp.join(args.out, 'distill_report.md'), 'w') as f:
        f.write(text)
    print('\n' + text)


if __name__ == '__main__':
    main()
