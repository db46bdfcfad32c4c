# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Class frequencies of label maps and the cross-entropy weights that rebalance them.

Room labels are dominated by wall, floor and ceiling (about 85% of the panorama pixels of
the generated rooms); a model trained from scratch on few images learns those first and
leaves the small classes at zero IoU. Weighting the cross entropy by a power of the inverse
frequency (ENet's and SegNet's "median frequency balancing" with ``power=1``) moves the
gradient towards the rare classes; ``power=0.5`` does so gently.
"""
import os.path as osp
from typing import Iterable, List

import numpy as np
from PIL import Image


def label_frequencies(paths: Iterable[str], num_classes: int,
                      ignore_index: int = 255) -> np.ndarray:
    """The share of each class among the labelled pixels of the label PNGs ``paths``.

    Returns:
        np.ndarray: (num_classes,) float64 summing to 1.

    Raises:
        FileNotFoundError: a path is missing. ValueError: no labelled pixel, or a label
            outside ``[0, num_classes)`` that is not ``ignore_index`` (naming the file).
    """
    counts = np.zeros(num_classes, np.int64)
    for path in paths:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: no such label map')
        labels = np.asarray(Image.open(path))
        found = np.bincount(labels.ravel(), minlength=256)
        found[ignore_index] = 0
        if found[num_classes:].any():
            bad = int(np.flatnonzero(found[num_classes:])[0]) + num_classes
            raise ValueError(f'{path}: label {bad} is outside 0..{num_classes - 1} '
                             f'(ignore index {ignore_index})')
        counts += found[:num_classes]
    if not counts.sum():
        raise ValueError('no labelled pixel in the label maps given')
    return counts / counts.sum()


def balanced_class_weights(frequencies: np.ndarray, power: float = 0.5,
                           max_weight: float = 10.) -> List[float]:
    """Cross-entropy class weights ``(median / frequency) ** power``, capped at ``max_weight``.

    Classes that never occur get ``max_weight`` (they have no pixels to weigh, so the value
    only matters if the data changes). The weights are scaled so that the frequency-weighted
    mean weight is 1: the loss keeps its magnitude, and so the learning rate keeps its meaning.

    Args:
        frequencies (np.ndarray): (K,) class shares, e.g. from :func:`label_frequencies`.
        power (float): 1 is median frequency balancing, 0 gives all ones. Defaults to 0.5.
        max_weight (float): Cap before the rescaling. Defaults to 10.

    Returns:
        list[float]: K weights, for ``CrossEntropyLoss(class_weight=...)``.
    """
    freq = np.asarray(frequencies, np.float64)
    if freq.ndim != 1 or (freq < 0).any() or not freq.sum():
        raise ValueError(f'frequencies must be a non-negative (K,) vector with a positive sum, '
                         f'got shape {freq.shape}')
    if power < 0 or max_weight <= 0:
        raise ValueError(f'power must be >= 0 and max_weight > 0, got {power}, {max_weight}')
    present = freq > 0
    weights = np.full(freq.shape, float(max_weight))
    median = np.median(freq[present])
    weights[present] = np.minimum((median / freq[present]) ** power, max_weight)
    weights /= (weights * freq).sum() / freq.sum()
    return [round(float(w), 4) for w in weights]
