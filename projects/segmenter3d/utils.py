# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Small argument helpers shared by the models and the data pipeline."""
from numbers import Integral
from typing import Sequence, Tuple, Union


def to_triple(value: Union[int, Sequence[int]], name: str) -> Tuple[int, int, int]:
    """An int or 3 ints as a (D, H, W) triple of positive ints; ValueError naming ``name``."""
    triple = (value, ) * 3 if isinstance(value, Integral) else tuple(value)
    if len(triple) != 3 or not all(isinstance(v, Integral) and v > 0 for v in triple):
        raise ValueError(f'{name} must be a positive int or 3 positive ints, got {value}')
    return tuple(int(v) for v in triple)
