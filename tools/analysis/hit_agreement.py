# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Teacher and student against the 3D labels at the distillation hit pixels.

    python tools/analysis/hit_agreement.py DISTILL_CONFIG STUDENT_CKPT \\
        --teacher-config CONFIG --teacher-checkpoint CKPT --data data/synthrooms-study \\
        --split validation --rooms 8 --forward whole tiles slide

What the KD term compares: per room, the teacher's logits at the pixels whose ray hits a
surface, and the student's logits sampled at those hits (the distiller's ``HitProjector``).
Both are scored against the 3D labels sampled the same way (accuracy and mIoU over the hits),
with the student run as the distiller trains it (``whole``: one forward of the room; ``tiles``:
``train_cfg.mode='tiles'`` at the test window size) and as it is tested (``slide``). A KD term
helps only where the teacher beats the student in the regime that is tested. With
``--min-confidence C`` every row is scored again on the hits where the teacher's top-class
probability reaches C: the pixels the gated KD term (``distill_loss.min_confidence``) keeps.
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import track_iter_progress
from mmseg.registry import DATASETS, MODELS

from segmenter3d.checkpoint_io import load_weights
from segmenter3d.encoding import input_tsdf
from segmenter3d.engine.option_checks import check_cfg_options
from segmenter3d.engine.runtime import report_bad_input

# the repository: its configs and data paths are relative to it
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def class_ious(confusion: np.ndarray) -> np.ndarray:
    """(K,) IoU (%) of each class of a (K, K) confusion (rows: labels); NaN where a class
    has no label."""
    inter = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - inter
    present = confusion.sum(1) > 0
    return np.where(present, 100 * inter / np.maximum(union, 1), np.nan)


def scores(confusion: np.ndarray) -> dict:
    """Accuracy and mIoU (%) of a (K, K) confusion (rows: labels), over present classes."""
    ious = class_ious(confusion)
    return dict(accuracy=100 * np.diag(confusion).sum() / max(confusion.sum(), 1),
                mIoU=float(np.nanmean(ious)) if not np.isnan(ious).all() else float('nan'))


def top_confusions(confusion: np.ndarray, n: int = 8):
    """The ``n`` largest off-diagonal cells: ``[(label, predicted, % of the label's hits)]``."""
    off = confusion.astype(np.float64) * (1 - np.eye(len(confusion)))
    share = 100 * off / np.maximum(confusion.sum(1, keepdims=True), 1)
    cells = np.argsort(off, axis=None)[::-1][:n]
    return [(int(i), int(j), float(share[i, j]))
            for i, j in zip(*np.unravel_index(cells, off.shape)) if off[i, j] > 0]


def student_logits(model, inputs: torch.Tensor, forward: str) -> torch.Tensor:
    if forward == 'whole':
        return model.encode_decode(inputs)
    if forward == 'slide':
        return model.slide_inference(inputs)
    return model.train_logits(inputs)  # train_cfg: tiles of the test window (main)


@torch.no_grad()
def room_at_hits(model, item: dict) -> dict:
    """One dataset item prepared as the distiller sees it: ``inputs`` (1, C, D, H, W), the
    room's ``shape``, its first view's ``entry`` (hits and projector), the ``teacher`` (P, K)
    logits at the hits, the 3D labels ``gt`` (P,) sampled the same way (K where ignored)
    and the ``sample``."""
    K = model.num_classes
    data = model.data_preprocessor(dict(inputs=[item['inputs']],
                                        data_samples=[item['data_samples']]), False)
    inputs, sample = data['inputs'], data['data_samples'][0]
    shape = sample.metainfo.get('padded_from', inputs.shape[2:])
    tsdf = input_tsdf(inputs[0, 0, :shape[0], :shape[1], :shape[2]])
    camera, image = model.views(sample, shape)[0]
    entry = model._room(tsdf, sample, 0, camera)
    labels = sample.gt_sem_seg.data[0, :shape[0], :shape[1], :shape[2]].long()
    # ignored voxels (255) vote as class K
    labels = torch.where(labels < K, labels, torch.full_like(labels, K))
    gt = entry.projector.sample(F.one_hot(labels, K + 1).permute(3, 0, 1, 2).float())
    return dict(inputs=inputs, shape=shape, entry=entry, sample=sample, gt=gt.argmax(1),
                teacher=model.teacher_rows(sample, entry, inputs.device, image))


def student_rows(model, room: dict, forward: str) -> torch.Tensor:
    """(P, K) student logits at a prepared room's hits (``forward``: as in
    :func:`student_logits`)."""
    shape = room['shape']
    logits = student_logits(model, room['inputs'], forward)
    return room['entry'].projector.sample(logits[0, :, :shape[0], :shape[1], :shape[2]])


@torch.no_grad()
def hit_confusions(model, dataset, rooms: int, forwards, min_confidence: float = 0.0) -> dict:
    """``{'teacher' | forward: (K, K) confusion against the 3D labels at the hits}``, and
    with ``min_confidence`` the same names suffixed `` >= C`` over the confident hits only."""
    K = model.num_classes
    names = ('teacher', *forwards)
    gated = [f'{name} >= {min_confidence:g}' for name in names] if min_confidence else []
    out = {name: np.zeros((K, K), np.int64) for name in (*names, *gated)}
    for i in track_iter_progress(range(min(rooms, len(dataset)))):
        room = room_at_hits(model, dataset[i])
        gt = room['gt'].numpy()
        keep = gt < K  # ignored hits dropped
        teacher = room['teacher']
        sure = keep & (teacher.softmax(1).amax(1) >= min_confidence).numpy()
        predictions = {'teacher': teacher.argmax(1)}
        for forward in forwards:
            predictions[forward] = student_rows(model, room, forward).argmax(1)
        for row, (name, pred) in enumerate(predictions.items()):
            np.add.at(out[name], (gt[keep], pred.numpy()[keep]), 1)
            if gated:
                np.add.at(out[gated[row]], (gt[sure], pred.numpy()[sure]), 1)
    return out


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The distiller, student, teacher and rooms (shared with ``kd_fit_probe.py``)."""
    p.add_argument('config', help='a distillation config (the student and its raycaster)')
    p.add_argument('checkpoint', help='the student')
    p.add_argument('--teacher-config', required=True)
    p.add_argument('--teacher-checkpoint', required=True)
    p.add_argument('--data', default='data/synthrooms-study')
    p.add_argument('--split', default='validation', choices=['training', 'validation', 'test'])


# the rooms come from --data and --split; a --cfg-options key for them would be overwritten
ROOM_KEYS = ('data_root', 'ann_file', 'data_prefix')


def refuse_room_overrides(cfg_options: dict) -> None:
    """Refuse ``--cfg-options`` keys that choose the rooms: ``--data`` and ``--split`` do,
    and they would replace the override without a word."""
    for key in cfg_options:
        parts = key.split('.')
        if parts[:2] == ['train_dataloader', 'dataset'] and len(parts) > 2 \
                and parts[2] in ROOM_KEYS:
            raise ValueError(f'--cfg-options {key}: the rooms are chosen with --data and '
                             '--split, not in the config')


def build_model_and_rooms(args):
    """The distiller with the student's weights (eval mode; ``tiles`` at the test window)
    and the split's rooms through the distillation config's training pipeline."""
    cfg = Config.fromfile(args.config)
    if 'Distiller' not in str(cfg.model.get('type', '')):
        raise ValueError(f"{args.config}: model type {cfg.model.get('type')!r} is not a "
                         'distiller; pass a distillation config (its student and raycaster)')
    if getattr(args, 'cfg_options', None):
        check_cfg_options(cfg, args.cfg_options)
        refuse_room_overrides(args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    cfg.model.update(teacher_config=args.teacher_config,
                     teacher_checkpoint=args.teacher_checkpoint)
    model = MODELS.build(cfg.model)
    load_weights(model, args.checkpoint, what='student checkpoint')
    model.eval()
    model.train_cfg = dict(mode='tiles', crop_size=model.test_cfg.get('crop_size', 32))
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(data_root=args.data, ann_file=f'splits/{args.split}.txt')
    dataset_cfg.data_prefix.img_path = f'images/{args.split}'
    return model, DATASETS.build(dataset_cfg)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(p)
    p.add_argument('--rooms', type=int, default=8)
    p.add_argument('--forward', nargs='+', choices=['whole', 'tiles', 'slide'],
                   default=['whole', 'tiles', 'slide'])
    p.add_argument('--min-confidence', type=float, default=0.0,
                   help='also score the hits where the teacher is at least this sure')
    p.add_argument('--per-class', action='store_true',
                   help="also each class's IoU at the hits and the teacher's largest confusions")
    args = p.parse_args(argv)
    if args.rooms < 1:
        raise ValueError(f'--rooms {args.rooms}: score at least 1 room')
    if not 0 <= args.min_confidence <= 1:  # also refuses nan
        raise ValueError(f'--min-confidence {args.min_confidence}: a probability in 0..1 '
                         '(0: no gate)')
    os.chdir(ROOT)
    init_default_scope('mmseg')
    model, dataset = build_model_and_rooms(args)
    confusions = hit_confusions(model, dataset, args.rooms, args.forward, args.min_confidence)
    total = confusions['teacher'].sum()
    scored = min(args.rooms, len(dataset))
    print(f'\n| logits at the hits ({scored} {args.split} rooms) | hits % | accuracy | '
          'mIoU |')
    print('|---|---|---|---|')
    for name, confusion in confusions.items():
        s = scores(confusion)
        forward, _, gate = name.partition(' ')
        label = name if name.startswith('teacher') else f'student, {forward} forward {gate}'
        print(f"| {label} | {100 * confusion.sum() / max(total, 1):.1f} | "
              f"{s['accuracy']:.2f} | {s['mIoU']:.2f} |")
    if args.per_class:
        print_per_class(confusions, dataset.metainfo['classes'])
    return 0


def print_per_class(confusions: dict, classes) -> None:
    ious = {name: class_ious(c) for name, c in confusions.items()}
    teacher = confusions['teacher']
    print('\n| class | hits % | ' + ' | '.join(f'{n} IoU' for n in ious) + ' |')
    print('|---' * (len(ious) + 2) + '|')
    for k in np.flatnonzero(teacher.sum(1)):
        print(f'| {classes[k]} | {100 * teacher[k].sum() / teacher.sum():.2f} | ' +
              ' | '.join(f'{v[k]:.1f}' for v in ious.values()) + ' |')
    print("\nteacher's largest confusions at the hits (label -> predicted, % of the label's hits):")
    for label, pred, share in top_confusions(teacher):
        print(f'  {classes[label]} -> {classes[pred]}: {share:.1f}%')


if __name__ == '__main__':
    sys.exit(report_bad_input(main))
