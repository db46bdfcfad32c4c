# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Fit one loss on one room and watch the student's hits on that room and on another.

    python tools/analysis/kd_fit_probe.py DISTILL_CONFIG STUDENT_CKPT \\
        --teacher-config CONFIG --teacher-checkpoint CKPT --split training --room 20 \\
        --held-out 21 --losses kd ce --steps 40

A minute-long check of what a KD term does to a student, before a 5-minute fine-tuning run.
From the same student each time, ``--steps`` Adam steps of one loss on one room (``kd``: the
config's ``distill_loss`` at the room's hits, as the distiller trains; ``ce``: the room's 3D
cross entropy), the student run as in training (``train_cfg``, tiles at the test window).
Every ``--every`` steps, for the fitted room and the held-out room: the KD term, the share of
the teacher's confident hits where the student's top class is the teacher's, the accuracy
against the 3D labels at the hits, and that accuracy on the hits whose label is not
structure (walls, floors, ceilings: most hits, and what every model gets right). A KD term
that carries knowledge raises the labelled accuracy of the room it is fitted on, as the cross
entropy does.
"""
import argparse
import copy
import math
import os
import os.path as osp
import sys

import torch
from hit_agreement import add_model_arguments, build_model_and_rooms, room_at_hits, student_rows
from mmengine.registry import init_default_scope

from segmenter3d.engine.runtime import CheckedDictAction, report_bad_input

# the repository: its configs and data paths are relative to it
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

STRUCTURE = ('walls', 'floors', 'ceilings')


def hit_metrics(student: torch.Tensor, teacher: torch.Tensor, gt: torch.Tensor, kd_loss,
                structure: torch.Tensor, min_confidence: float = 0.9) -> dict:
    """Scores of (P, K) student rows against (P, K) teacher rows and (P,) labels (K: ignored):
    ``kd`` (the term's value), ``agree`` (% of the hits where the teacher is at least
    ``min_confidence`` sure on which the student's top class is the teacher's), ``acc`` and
    ``acc_objects`` (% correct over the labelled hits and over those not in ``structure``)."""
    K = student.shape[1]
    top = student.argmax(1)
    sure = teacher.softmax(1).amax(1) >= min_confidence
    labelled = gt < K
    objects = labelled & ~torch.isin(gt, structure)

    def share(hit, where):
        return float(100 * hit[where].float().mean()) if where.any() else float('nan')

    return dict(kd=float(kd_loss(student, teacher)), agree=share(top == teacher.argmax(1), sure),
                acc=share(top == gt, labelled), acc_objects=share(top == gt, objects))


def fit(model, room: dict, rooms: dict, loss: str, steps: int, lr: float, every: int,
        structure: torch.Tensor):
    """``[(step, name, metrics)]`` while ``steps`` Adam steps of ``loss`` fit ``room``."""

    def measure(step):
        model.eval()
        with torch.no_grad():
            return [(step, name, hit_metrics(student_rows(model, r, 'tiles'), r['teacher'],
                                             r['gt'], model.distill_loss, structure))
                    for name, r in rooms.items()]

    rows = measure(0)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    for step in range(1, steps + 1):
        model.train()
        if loss == 'kd':
            value = model.distill_loss(student_rows(model, room, 'tiles'), room['teacher'])
        else:
            logits = model.train_logits(room['inputs'])
            value = model.decode_head.loss_by_feat(logits, [room['sample']])['loss_ce']
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        if step % every == 0 or step == steps:
            rows += measure(step)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(p)
    p.add_argument('--room', type=int, default=0, help='index of the fitted room in the split')
    p.add_argument('--held-out', type=int, default=1, help='index of the room only watched')
    p.add_argument('--losses', nargs='+', choices=['kd', 'ce'], default=['kd', 'ce'])
    p.add_argument('--steps', type=int, default=40)
    p.add_argument('--every', type=int, default=10)
    p.add_argument('--lr', type=float, default=1e-4)
    p.add_argument('--cfg-options', nargs='+', action=CheckedDictAction,
                   help='config overrides, e.g. model.distill_loss.tau=1.0')
    args = p.parse_args(argv)
    if args.steps < 0 or args.every < 1:
        raise ValueError(f'--steps {args.steps} / --every {args.every}: steps >= 0, every >= 1')
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise ValueError(f'--lr {args.lr}: a positive finite learning rate')
    if args.room == args.held_out:
        raise ValueError(f'--room and --held-out are both {args.room}: the held-out room must '
                         'be another one')
    os.chdir(ROOT)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model, dataset = build_model_and_rooms(args)
    for index in (args.room, args.held_out):
        if not 0 <= index < len(dataset):
            raise ValueError(f'kd_fit_probe: room {index} is outside the {len(dataset)} rooms '
                             f'of split {args.split}')
    classes = list(dataset.metainfo['classes'])
    structure = torch.tensor([classes.index(c) for c in STRUCTURE if c in classes])
    room = room_at_hits(model, dataset[args.room])
    rooms = {f'fitted room {args.room}': room,
             f'held-out room {args.held_out}': room_at_hits(model, dataset[args.held_out])}
    start = copy.deepcopy(model.state_dict())
    print('\n| loss | step | room | KD term | agree % (teacher sure) | acc % | acc % objects |')
    print('|---|---|---|---|---|---|---|')
    for name, r in rooms.items():  # what fitting the teacher exactly would score
        m = hit_metrics(r['teacher'], r['teacher'], r['gt'], model.distill_loss, structure)
        print(f"| (the teacher) | | {name} | 0 | 100 | {m['acc']:.2f} | {m['acc_objects']:.2f} |")
    for loss in args.losses:
        model.load_state_dict(start)
        for step, name, m in fit(model, room, rooms, loss, args.steps, args.lr, args.every,
                                 structure):
            print(f"| {loss} | {step} | {name} | {m['kd']:.4f} | {m['agree']:.2f} | "
                  f"{m['acc']:.2f} | {m['acc_objects']:.2f} |", flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(report_bad_input(main))
