# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Class taxonomies (read from the CSV files shipped beside this module)."""
import csv
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))


def _rows(name: str) -> List[List[str]]:
    with open(osp.join(HERE, name)) as f:
        return list(csv.reader(line for line in f if line.strip() and not line.startswith('#')))


def _palette(n: int, seed: int) -> List[Tuple[int, int, int]]:
    rng = np.random.default_rng(seed)
    colours = rng.integers(40, 256, (n, 3))
    colours[0] = (0, 0, 0)
    return [tuple(int(v) for v in c) for c in colours]


_PANO = _rows('panorooms3d_classes.csv')
PANOROOMS3D_CLASSES: Tuple[str, ...] = tuple(r[1] for r in _PANO)
#: raw 3D-FRONT category id (0..98) -> PanoRooms3D class; ids not listed map to 0 (void).
PANOROOMS3D_RAW_TO_CLASS: Dict[int, int] = {
    int(raw): int(r[0]) for r in _PANO for raw in r[2].split()
}
PANOROOMS3D_PALETTE = _palette(len(PANOROOMS3D_CLASSES), seed=3)

_SCANNET = _rows('scannet20_classes.csv')
SCANNET20_CLASSES: Tuple[str, ...] = tuple(r[2] for r in _SCANNET)
#: nyu40 id -> ScanNet benchmark train id (0..19); every other id is ignored (255).
SCANNET20_NYU40_TO_CLASS: Dict[int, int] = {int(r[1]): int(r[0]) for r in _SCANNET}
SCANNET20_PALETTE = _palette(len(SCANNET20_CLASSES), seed=5)


def raw_to_class_lut(mapping: Dict[int, int], size: int = 256, default: int = 0) -> np.ndarray:
    """A uint8 look-up table mapping raw ids to classes."""
    lut = np.full(size, default, np.uint8)
    for raw, cls in mapping.items():
        lut[raw] = cls
    return lut
