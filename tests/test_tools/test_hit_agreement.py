"""tools/analysis/hit_agreement.py: scores of a confusion over the hit pixels."""
import math
import os.path as osp
import sys

import numpy as np

from conftest import ROOT

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))
import hit_agreement  # noqa: E402


def test_scores_are_accuracy_and_the_mean_iou_of_present_classes():
    # rows: labels. class 0: 3 right, 1 called class 1; class 1: 2 right; class 2 never labelled
    # but predicted once (for a class-1 voxel)
    confusion = np.array([[3, 1, 0], [0, 2, 1], [0, 0, 0]])
    s = hit_agreement.scores(confusion)
    assert math.isclose(s['accuracy'], 100 * 5 / 7)
    # IoU 0: 3 / (3 + 1); IoU 1: 2 / (2 + 1 + 1); class 2 has no label: not averaged
    assert math.isclose(s['mIoU'], 100 * (3 / 4 + 2 / 4) / 2)
    assert math.isnan(hit_agreement.scores(np.zeros((3, 3), np.int64))['mIoU'])


def test_class_ious_and_the_largest_confusions():
    confusion = np.array([[3, 1, 0], [0, 2, 1], [0, 0, 0]])
    ious = hit_agreement.class_ious(confusion)
    np.testing.assert_allclose(ious[:2], [75.0, 50.0])
    assert np.isnan(ious[2])  # never labelled
    # off-diagonal cells, largest count first, as a share of the label's hits; zeros left out
    big = np.array([[10, 0, 0], [5, 1, 0], [1, 0, 1]])
    assert hit_agreement.top_confusions(big, 5) == [(1, 0, 500 / 6), (2, 0, 50.0)]
    assert hit_agreement.top_confusions(big, 1) == [(1, 0, 500 / 6)]
