# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Pictures of volumes: palette colouring, horizontal slices and prediction panoramas."""
from typing import Dict, Optional, Sequence

import cv2
import numpy as np
import torch

from ..encoding import input_tsdf
from ..fileio import write_png_atomic
from ..rendering import TSDFRaycaster


def colorize(labels: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """Labels (...) -> RGB (..., 3) uint8; 255 (ignore) is drawn white."""
    lut = np.full((256, 3), 255, np.uint8)
    lut[:len(palette)] = np.asarray(palette, np.uint8)
    return lut[np.asarray(labels, np.int64).clip(0, 255)]


def _rgb_of(volume: np.ndarray) -> np.ndarray:
    """(4, X, Y, Z) network input -> (X, Y, Z, 3) uint8 colour."""
    return ((np.moveaxis(volume[1:], 0, -1) + 1) * 127.5).clip(0, 255).astype(np.uint8)


def legend(palette, class_names: Sequence[str], ids: Sequence[int], width: int,
           row_height: int = 16) -> np.ndarray:
    """(h, width, 3) RGB strip of colour swatches with the names of classes ``ids``."""
    ids = [int(i) for i in ids if 0 <= int(i) < len(class_names)]
    per_row = max(1, width // 150)
    rows = -(-len(ids) // per_row) if ids else 1
    out = np.full((rows * row_height, width, 3), 255, np.uint8)
    for n, i in enumerate(ids):
        y, x = (n // per_row) * row_height, (n % per_row) * 150
        out[y + 3:y + row_height - 3, x + 4:x + 16] = palette[i]
        cv2.putText(out, f'{i} {class_names[i]}', (x + 20, y + row_height - 4),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def with_legend(figure: np.ndarray, palette, class_names: Optional[Sequence[str]],
                labels: Sequence[np.ndarray]) -> np.ndarray:
    """``figure`` (h, w, 3) with a key under it: the swatch and name of every class present
    in the drawn ``labels`` (255, no label, has none). Every picture a tool writes gets its
    key here; without ``class_names`` the figure is returned as it is."""
    if class_names is None:
        return figure
    present = np.unique(np.concatenate([np.unique(np.asarray(lab)) for lab in labels]))
    return np.concatenate([figure, legend(palette, class_names, present, figure.shape[1])], 0)


def label_tile(img: np.ndarray, text: str) -> np.ndarray:
    """A copy of the picture with ``text`` written in its top-left corner."""
    img = np.array(img, dtype=np.uint8, copy=True, order='C')
    cv2.putText(img, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                cv2.LINE_AA)
    return img


def slice_figure(volume: np.ndarray, gt: Optional[np.ndarray], pred: np.ndarray, palette,
                 heights: Sequence[float] = (0.2, 0.45, 0.7), scale: int = 4,
                 class_names: Optional[Sequence[str]] = None) -> np.ndarray:
    """Rows of horizontal (constant Z) slices: input colour | ground truth | prediction, and
    the key of the classes drawn when ``class_names`` is given."""
    rows, drawn = [], []
    Z = pred.shape[2]
    for h in heights:
        z = min(Z - 1, max(0, int(round(h * (Z - 1)))))
        tiles = [_rgb_of(volume)[:, :, z]]
        if gt is not None:
            tiles.append(colorize(gt[:, :, z], palette))
        tiles.append(colorize(pred[:, :, z], palette))
        drawn += [pred[:, :, z]] + ([gt[:, :, z]] if gt is not None else [])
        tiles = [np.kron(t, np.ones((scale, scale, 1), np.uint8)) for t in tiles]
        names = ['input z=%d' % z] + (['ground truth'] if gt is not None else []) + ['prediction']
        rows.append(np.concatenate([label_tile(t, n) for t, n in zip(tiles, names)], axis=1))
    return with_legend(np.concatenate(rows, axis=0), palette, class_names, drawn)


def panorama_figure(volume: np.ndarray, camera: np.ndarray, layers: Dict[str, np.ndarray],
                    palette, size=(256, 512),
                    class_names: Optional[Sequence[str]] = None) -> np.ndarray:
    """Panorama from ``camera`` (voxel coordinates): input colour, then each label volume,
    and the key of the classes in view when ``class_names`` is given."""
    drawn = []
    caster = TSDFRaycaster(*size)
    vol = torch.from_numpy(np.ascontiguousarray(volume)).float()
    camera = torch.as_tensor(camera, dtype=torch.float32)
    hits = caster.cast(input_tsdf(vol[0]), camera)
    rgb = caster.project(vol[1:], hits)
    rows = [label_tile(((rgb.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8),
                   'input')]
    for name, labels in layers.items():
        lab = caster.project(torch.from_numpy(np.asarray(labels, np.float32))[None],
                             hits.behind(camera), mode='nearest',
                             fill=255)[0].numpy().astype(np.uint8)
        rows.append(label_tile(colorize(lab, palette), name))
        drawn.append(lab)
    return with_legend(np.concatenate(rows, axis=0), palette, class_names, drawn)


def write_png(path: str, rgb: np.ndarray) -> None:
    """An RGB picture as PNG, atomically."""
    write_png_atomic(path, rgb[..., ::-1])
