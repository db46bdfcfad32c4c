"""tools/analysis/kd_fit_probe.py: the scores of student rows at the hits."""
import math
import os.path as osp
import sys

import torch

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import kd_fit_probe  # noqa: E402

from segmenter3d.models.losses import PanoramicKDLoss  # noqa: E402


def _one_hot_rows(classes, K=4, scale=10.0):
    return torch.nn.functional.one_hot(torch.tensor(classes), K).float() * scale


def test_hit_metrics_known_answers():
    # classes: 0 wall (structure), 1 door, 2 art, 3 sofa; label 4 = ignored
    teacher = _one_hot_rows([0, 0, 1, 2, 3, 3])
    teacher[5] = 0.0  # unsure: uniform
    student = _one_hot_rows([0, 1, 1, 2, 0, 0])
    gt = torch.tensor([0, 0, 1, 3, 3, 4])
    loss = PanoramicKDLoss(tau=1.0, class_mean=False)
    m = kd_fit_probe.hit_metrics(student, teacher, gt, loss, torch.tensor([0]))
    # sure hits 0..4: the student agrees on 0, 2, 3 (row 1 says door, row 4 says wall)
    assert math.isclose(m['agree'], 60.0, rel_tol=1e-6)
    # labelled hits 0..4: right on 0 and 2
    assert math.isclose(m['acc'], 40.0, rel_tol=1e-6)
    # object hits 2, 3, 4: right on 2 only
    assert math.isclose(m['acc_objects'], 100 / 3, rel_tol=1e-6)
    assert math.isclose(m['kd'], float(loss(student, teacher)), rel_tol=1e-6)
    # the student equal to the teacher: a zero term and full agreement
    same = kd_fit_probe.hit_metrics(teacher, teacher, gt, loss, torch.tensor([0]))
    assert abs(same['kd']) < 1e-6 and same['agree'] == 100.0


def test_hit_metrics_without_object_hits_is_nan():
    rows = _one_hot_rows([0, 0])
    m = kd_fit_probe.hit_metrics(rows, rows, torch.tensor([0, 0]),
                                 PanoramicKDLoss(), torch.tensor([0]))
    assert math.isnan(m['acc_objects']) and m['acc'] == 100.0
