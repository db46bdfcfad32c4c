# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Room volumes listed by a split file (our generated rooms or the PanoRooms3D release)."""
import os.path as osp
from typing import List, Optional, Tuple

from mmengine.dataset import BaseDataset
from mmseg.registry import DATASETS

from ..taxonomy import PANOROOMS3D_CLASSES, PANOROOMS3D_PALETTE
from .cameras import view_name


def read_split_file(path: str, allow_empty: bool = False) -> List[Tuple[int, str]]:
    """(line number, room name) of a split file: one name a line, blank lines skipped.

    Split files are untrusted: a byte-order mark is dropped, and undecodable bytes, names
    leaving the data root (absolute or with ``..``) and a name listed twice (it would count
    twice in the metrics) are refused; so is an empty list unless ``allow_empty`` (a dataset
    of no rooms cannot train or test, but a converter may be handed one).

    Raises:
        ValueError: naming the file (and the line).
    """
    try:
        with open(path, encoding='utf-8-sig') as f:
            lines = [(i, line.strip()) for i, line in enumerate(f, 1) if line.strip()]
    except UnicodeDecodeError as err:
        raise ValueError(f'{path}: split file is not UTF-8 text ({err.reason} at byte '
                         f'{err.start})') from None
    except OSError as err:  # no permission, a folder of that name, ...
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f'{path}: split file cannot be read ({err.strerror or err})') from None
    if not lines and not allow_empty:
        raise ValueError(f'{path}: split file lists no rooms')
    first = {}
    for number, name in lines:
        if osp.isabs(name) or '..' in name.replace('\\', '/').split('/'):
            raise ValueError(f'{path}: line {number}: room name {name!r} must be a relative '
                             f'path without ".." (rooms stay inside data_root)')
        if name in first:
            raise ValueError(f'{path}: line {number}: room {name!r} is listed again (first on '
                             f'line {first[name]}); each room counts once')
        first[name] = number
    return lines


def _check_count(name: str, value, minimum: int, alternatives: str = '') -> None:
    """Refuse a count argument that is not an integer >= ``minimum`` (bool is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f'VolumeDataset: {name} must be an integer >= {minimum}'
                         f'{alternatives}, got {value!r}')


@DATASETS.register_module()
class VolumeDataset(BaseDataset):
    """Rooms as dense volumes, one ``.npz`` per room.

    ``ann_file`` is a split file listing room names (one a line, relative to ``data_root``);
    volumes are ``<data_root>/<data_prefix.volume_path>/<room>.npz`` and, when
    ``data_prefix.img_path`` is set, the room's panorama ``<img_path>/<room><img_suffix>``
    (used by distillation and visualisation); when ``data_prefix.vertex_path`` is set, the
    room's mesh vertex table ``<vertex_path>/<room>.npz`` (point-level evaluation).

    With ``num_views > 1`` a room has several panoramas: its own and ``<room>_view<k>``
    (k = 1..N-1), with their cameras in ``<camera_path>/<room>.npy`` (see
    :mod:`segmenter3d.synthrooms.views`; ``tools/data/render_views.py`` renders them). When
    ``data_prefix.seg_map_path`` is set, ``<seg_map_path>/<room>`` is the room's label panorama
    (with several views, ``seg_map_paths``: one a view).

    Args:
        ann_file (str): Split file. Example: ``'splits/training.txt'``.
        volume_suffix (str): Defaults to ``'.npz'``.
        img_suffix (str): Defaults to ``'.png'``.
        seg_map_suffix (str): Defaults to ``'.png'``.
        num_views (int): Panoramas per room (distillation). Defaults to 1.
        labelled_rooms (int, optional): Only the first N rooms of the split keep their 3D
            labels; the others are read as panorama-only rooms (every voxel 255: the KD term
            alone trains on them). The label-scarce setting of distillation. Defaults to None
            (every room's labels).
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments (``data_root``,
            ``data_prefix=dict(volume_path=..., img_path=..., seg_map_path=...)``,
            ``pipeline``, ``test_mode``, ``indices``, ...).
    """
    METAINFO = dict(classes=PANOROOMS3D_CLASSES, palette=PANOROOMS3D_PALETTE)

    def __init__(self,
                 ann_file: str,
                 volume_suffix: str = '.npz',
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 data_prefix: dict = dict(volume_path='volumes'),
                 num_views: int = 1,
                 labelled_rooms: Optional[int] = None,
                 **kwargs) -> None:
        _check_count('num_views', num_views, 1)
        if num_views > 1 and not (data_prefix.get('img_path') and
                                  data_prefix.get('camera_path')):
            raise ValueError('VolumeDataset: num_views > 1 needs data_prefix.img_path and '
                             "data_prefix.camera_path (e.g. 'cameras')")
        if labelled_rooms is not None:
            _check_count('labelled_rooms', labelled_rooms, 0, ' or None')
        self.num_views = num_views
        self.labelled_rooms = labelled_rooms
        self.volume_suffix = volume_suffix
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'{self.ann_file}: split file not found (generate rooms with '
                                    f'tools/data/generate_synthrooms.py or point data_root at '
                                    f'the dataset)')
        lines = read_split_file(self.ann_file)
        names = [name for _, name in lines]
        prefix = self.data_prefix
        data_list, missing = [], []
        for index, name in enumerate(names):
            info = dict(room_id=name,
                        volume_path=osp.join(prefix['volume_path'], name + self.volume_suffix))
            if self.labelled_rooms is not None:
                info['with_labels'] = index < self.labelled_rooms
            if not osp.isfile(info['volume_path']):
                missing.append(info['volume_path'])
            if prefix.get('img_path'):
                info['image_path'] = osp.join(prefix['img_path'], name + self.img_suffix)
            if self.num_views > 1:
                info['image_paths'] = [
                    osp.join(prefix['img_path'], view_name(name, v) + self.img_suffix)
                    for v in range(self.num_views)]
                info['cameras_path'] = osp.join(prefix['camera_path'], name + '.npy')
            if prefix.get('vertex_path'):  # mesh vertex -> voxel table (ScanNet)
                info['vertex_path'] = osp.join(prefix['vertex_path'], name + '.npz')
            if prefix.get('seg_map_path'):
                info['seg_map_path'] = osp.join(prefix['seg_map_path'], name + self.seg_map_suffix)
                if self.num_views > 1:  # the label panorama of every view
                    info['seg_map_paths'] = [
                        osp.join(prefix['seg_map_path'], view_name(name, v) + self.seg_map_suffix)
                        for v in range(self.num_views)]
            data_list.append(info)
        if missing:
            raise FileNotFoundError(f'{self.ann_file}: {len(missing)} listed room volume(s) not '
                                    f'found, e.g. {missing[:3]}')
        return data_list
