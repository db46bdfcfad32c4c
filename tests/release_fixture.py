"""A PanoRooms3D release in miniature: what a user of the paper's data has on disk.

``volumes/<room>.npz`` with the release's three keys only (``sdf128``, ``color128`` packed
``b * 65536 + g * 256 + r``, ``semanticlabel`` raw 3D-FRONT ids), no camera, no voxel size;
``images/<split>/<room>.jpg`` and ``annotations/<split>/<room>.png`` rendered from the centre of
the room; ``splits/<split>.txt``. Some rooms are multiples of 128 on every side, some are not
(``PadVolume(size_divisor=128)`` then grows them).
"""
import os
import os.path as osp
from typing import Dict, Tuple

import mmcv

from segmenter3d.synthrooms import fit_room, generate_room, render_panorama, save_release_room

# (name, split, shape): training rooms of both kinds, a validation and a test room that are not
# multiples of 128 (the 130 x 110 x 70 room puts a padded-centre camera outside the room)
ROOMS: Tuple[Tuple[str, str, Tuple[int, int, int]], ...] = (
    ('room_a', 'training', (130, 110, 70)),
    ('room_b', 'training', (128, 128, 128)),
    ('room_c', 'validation', (128, 96, 72)),
    ('room_d', 'test', (130, 110, 70)),
)
PANO = (64, 128)  # panorama height x width: the release's 512 x 1024, shrunk for a CPU test


def make_release_dataset(root: str, rooms=ROOMS, pano=PANO, seed: int = 0) -> str:
    """Write the miniature release under ``root``; returns ``root``."""
    for sub in ('volumes', 'splits'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    splits: Dict[str, list] = {}
    for i, (name, split, shape) in enumerate(rooms):
        room = fit_room(generate_room(seed + i, voxel_size=0.05, max_extent=6.0), shape)
        save_release_room(room, osp.join(root, 'volumes', f'{name}.npz'))
        view = render_panorama(room, *pano)  # from the centre of the unpadded room
        mmcv.imwrite(view['rgb'][..., ::-1], osp.join(root, 'images', split, f'{name}.jpg'))
        mmcv.imwrite(view['labels'], osp.join(root, 'annotations', split, f'{name}.png'))
        splits.setdefault(split, []).append(name)
    for split, names in splits.items():
        with open(osp.join(root, 'splits', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
    return root
