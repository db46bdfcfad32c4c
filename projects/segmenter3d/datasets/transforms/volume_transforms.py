# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Data pipeline for voxel rooms: load, crop blocks on the fly, augment, pack.

Inside the pipeline ``results['volume']`` is (4, X, Y, Z) float32 in the network's encoding
(``segmenter3d.encoding``: -tsdf, then colour 2c - 1, -1 where unobserved) and
``results['gt_seg']`` is (X, Y, Z) uint8.
"""
import os.path as osp
from typing import Dict, Optional, Sequence, Union

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ...encoding import IGNORE_INDEX, input_observed, pad_input
from ...rendering import room_camera
from ...structures import VolumeData, VolumeDataSample
from ...utils import to_triple
from ..cameras import load_cameras
from ..image_size import check_image_pixels
from ..room_io import load_room, room_to_input


@TRANSFORMS.register_module()
class LoadVolume(BaseTransform):
    """Read ``results['volume_path']`` (our or the release format) with validation.

    Args:
        num_classes (int): Labels must be below this or 255. Defaults to 30.
        with_labels (bool): Read the room's 3D labels. ``False`` treats the rooms as
            unlabelled (every voxel 255, ignored by the loss): panorama-only rooms for
            distillation, in a dataset mixed with labelled ones. Rooms stored without labels
            are unlabelled either way; so are rooms the dataset marks
            ``with_labels=False`` (``VolumeDataset(labelled_rooms=N)``). Defaults to True.
    """

    def __init__(self, num_classes: int = 30, with_labels: bool = True) -> None:
        self.num_classes = num_classes
        self.with_labels = with_labels

    def transform(self, results: Dict) -> Dict:
        with_labels = self.with_labels and results.get('with_labels', True)
        room = load_room(results['volume_path'], self.num_classes, with_labels)
        results['volume'] = room_to_input(room)
        results['gt_seg'] = room['labels']
        results['ori_shape'] = room['tsdf'].shape
        results['room_format'] = room['format']
        results['labelled'] = room['labelled']
        for key in ('voxel_size', 'origin'):
            if key in room:
                results[key] = room[key]
        # every room gets its camera here, before any padding: see rendering.room_camera
        results['camera'] = room_camera(room['tsdf'].shape, room.get('camera'))
        return results


def pad_to(volume: np.ndarray, labels: np.ndarray, size: Sequence[int]):
    """Pad (4, X, Y, Z) with empty space and labels with 255 at the end of short axes."""
    return pad_input(volume, size), pad_input(labels[None], size, (IGNORE_INDEX, ))[0]


@TRANSFORMS.register_module()
class PadVolume(BaseTransform):
    """Pad to at least ``size`` (or to multiples of ``size_divisor``) with empty space."""

    def __init__(self, size: Optional[Union[int, Sequence[int]]] = None,
                 size_divisor: Optional[int] = None) -> None:
        if size is None and size_divisor is None:
            raise ValueError('PadVolume needs size or size_divisor')
        self.size = to_triple(size, 'PadVolume.size') if size is not None else None
        self.size_divisor = size_divisor

    def transform(self, results: Dict) -> Dict:
        shape = results['gt_seg'].shape
        target = list(self.size or shape)
        target = [max(t, s) for t, s in zip(target, shape)]
        if self.size_divisor:
            target = [-(-t // self.size_divisor) * self.size_divisor for t in target]
        results['volume'], results['gt_seg'] = pad_to(results['volume'], results['gt_seg'], target)
        return results


def _moved(results: Dict, transform: str, move) -> None:
    """Apply ``move`` ((N, 3) voxel points -> their new places) to the room's ``camera`` and
    ``cameras``, and name the transform in ``moved_by``: the volume moved, its panoramas did
    not (a distiller refuses such rooms, see ``PanoDistiller.views``)."""
    for key in ('camera', 'cameras'):
        if results.get(key) is not None:
            points = np.asarray(results[key], np.float32)
            results[key] = move(points.reshape(-1, 3)).reshape(points.shape).astype(np.float32)
    results['moved_by'] = tuple(results.get('moved_by', ())) + (transform, )


@TRANSFORMS.register_module()
class RandomVolumeCrop(BaseTransform):
    """Random block, preferring blocks with surface: of ``tries`` random positions the one with
    the most surface voxels (|tsdf| < 1) is kept. Rooms smaller than the block are padded.

    Args:
        crop_size (int | Sequence[int]): Block size in voxels.
        tries (int): Candidate positions. Defaults to 4.
    """

    def __init__(self, crop_size: Union[int, Sequence[int]], tries: int = 4) -> None:
        self.crop_size = to_triple(crop_size, 'RandomVolumeCrop.crop_size')
        self.tries = max(1, tries)

    def transform(self, results: Dict) -> Dict:
        volume, labels = pad_to(results['volume'], results['gt_seg'], self.crop_size)
        surface = np.abs(volume[0]) < 1
        best, best_count = None, -1
        for _ in range(self.tries):
            start = [np.random.randint(0, s - c + 1) for s, c in zip(labels.shape, self.crop_size)]
            sl = tuple(slice(a, a + c) for a, c in zip(start, self.crop_size))
            count = int(surface[sl].sum())
            if count > best_count:
                best, best_count = sl, count
        results['volume'] = np.ascontiguousarray(volume[(slice(None), ) + best])
        results['gt_seg'] = np.ascontiguousarray(labels[best])
        results['crop_start'] = tuple(s.start for s in best)
        _moved(results, 'RandomVolumeCrop',
               lambda p: p - np.asarray(results['crop_start'], np.float32))
        return results


@TRANSFORMS.register_module()
class RandomFlipRotateZ(BaseTransform):
    """Random flips of X and Y and a random multiple of 90 degrees about Z (up stays up)."""

    def __init__(self, flip_prob: float = 0.5, rotate: bool = True) -> None:
        self.flip_prob = flip_prob
        self.rotate = rotate

    def transform(self, results: Dict) -> Dict:
        vol, lab = results['volume'], results['gt_seg']
        flips = [np.random.rand() < self.flip_prob for _ in (0, 1)]
        for axis in (0, 1):
            if flips[axis]:
                vol, lab = np.flip(vol, axis + 1), np.flip(lab, axis)
        k = np.random.randint(4) if self.rotate else 0
        vol, lab = np.rot90(vol, k, axes=(1, 2)), np.rot90(lab, k, axes=(0, 1))
        shape = results['gt_seg'].shape

        def move(p: np.ndarray) -> np.ndarray:
            p = p.copy()
            for axis in (0, 1):
                if flips[axis]:
                    p[:, axis] = shape[axis] - 1 - p[:, axis]
            size_y = shape[1]
            for turn in range(k):  # np.rot90 takes (x, y) of an X x Y plane to (Y-1-y, x)
                p[:, 0], p[:, 1] = size_y - 1 - p[:, 1], p[:, 0].copy()
                size_y = shape[0] if turn % 2 == 0 else shape[1]
            return p

        _moved(results, 'RandomFlipRotateZ', move)
        results['volume'] = np.ascontiguousarray(vol)
        results['gt_seg'] = np.ascontiguousarray(lab)
        return results


@TRANSFORMS.register_module()
class VolumeColorJitter(BaseTransform):
    """Brightness/contrast jitter of observed colours (unobserved stay -1)."""

    def __init__(self, brightness: float = 0.1, contrast: float = 0.1) -> None:
        self.brightness, self.contrast = brightness, contrast

    def transform(self, results: Dict) -> Dict:
        vol = results['volume'].copy()
        observed = input_observed(vol[0])
        scale = 1 + np.random.uniform(-self.contrast, self.contrast)
        shift = np.random.uniform(-self.brightness, self.brightness)
        vol[1:] = np.where(observed, np.clip(vol[1:] * scale + shift, -1, 1), -1)
        results['volume'] = vol
        return results


def to_bgr_uint8(path: str, image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 BGR from a decoded picture: grey is repeated, alpha dropped, and
    16-bit pictures are scaled by their bit depth (x 255 / 65535), never cut to the low byte."""
    if image.dtype == np.uint16:
        image = np.round(image.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f'{path}: panorama pixels are {image.dtype}; 8- or 16-bit expected')
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f'{path}: panorama of shape {image.shape}; expected (H, W, 3)')
    return np.ascontiguousarray(image[..., :3])


@TRANSFORMS.register_module()
class LoadPanorama(BaseTransform):
    """Read the room's panorama (``results['image_path']``) as BGR uint8 (H, W, 3), as mmseg's
    ``LoadImageFromFile`` does, for the distillation teacher.

    A room with several views (``results['image_paths']`` and ``results['cameras_path']``, from
    ``VolumeDataset(num_views=N)``) gets ``panorama`` (N, H, W, 3) and ``cameras`` (N, 3).

    Args:
        with_annotation (bool): Also read the label panorama of each view
            (``seg_map_path(s)``, ``data_prefix.seg_map_path``) as ``gt_panorama`` uint8
            (H, W) or (N, H, W), 255 where no surface was hit: what an oracle teacher
            (:class:`AnnotationOracleDistiller`) distils. Defaults to False.
    """

    def __init__(self, with_annotation: bool = False) -> None:
        self.with_annotation = with_annotation

    def transform(self, results: Dict) -> Dict:
        paths = results.get('image_paths')
        if paths is None:
            path = results.get('image_path')
            if path is None:
                raise ValueError(f"{results.get('volume_path')}: no panorama path; set "
                                 f"data_prefix.img_path in the dataset config")
            results['panorama'] = self._read(path)
            if self.with_annotation:
                results['gt_panorama'] = self._read_labels(
                    results, results.get('seg_map_path'), results['panorama'].shape[:2])
            return results
        images = [self._read(p) for p in paths]
        if any(im.shape != images[0].shape for im in images):
            raise ValueError(f'{paths[0]}: the views of a room must share one size, got '
                             f'{sorted({im.shape[:2] for im in images})}')
        results['panorama'] = np.stack(images)
        results['cameras'] = load_cameras(results['cameras_path'], len(paths),
                                          results.get('ori_shape'))
        if self.with_annotation:
            label_paths = results.get('seg_map_paths') or [None] * len(paths)
            results['gt_panorama'] = np.stack(
                [self._read_labels(results, p, images[0].shape[:2]) for p in label_paths])
        return results

    @staticmethod
    def _read_labels(results: Dict, path: Optional[str], size) -> np.ndarray:
        if path is None:
            raise ValueError(f"{results.get('volume_path')}: LoadPanorama(with_annotation=True) "
                             'needs the label panoramas; set data_prefix.seg_map_path')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: label panorama not found')
        check_image_pixels(path)
        labels = mmcv.imread(path, flag='unchanged')
        if labels is None or labels.ndim != 2 or labels.dtype != np.uint8:
            raise ValueError(f'{path}: a label panorama is a single-channel 8-bit PNG, got '
                             f'{None if labels is None else (labels.shape, str(labels.dtype))}')
        if labels.shape != tuple(size):
            raise ValueError(f'{path}: labels are {labels.shape[0]}x{labels.shape[1]}, its '
                             f'panorama {size[0]}x{size[1]}')
        return labels

    @staticmethod
    def _read(path: str) -> np.ndarray:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: panorama not found')
        check_image_pixels(path)
        image = mmcv.imread(path, flag='unchanged')
        if image is None:
            raise ValueError(f'{path}: cannot be decoded as an image')
        image = to_bgr_uint8(path, image)
        h, w = image.shape[:2]
        if w != 2 * h:
            raise ValueError(f'{path}: panorama is {h}x{w}; an equirectangular panorama is '
                             'twice as wide as it is high')
        return image


@TRANSFORMS.register_module()
class PackVolumeInputs(BaseTransform):
    """To ``inputs`` (4, X, Y, Z) tensor and a :class:`VolumeDataSample`."""

    META_KEYS = ('room_id', 'volume_path', 'ori_shape', 'voxel_size', 'origin', 'camera',
                 'cameras', 'crop_start', 'moved_by', 'room_format', 'labelled', 'image_path',
                 'seg_map_path', 'vertex_path')

    def transform(self, results: Dict) -> Dict:
        sample = VolumeDataSample()
        if 'gt_seg' in results:
            sample.gt_sem_seg = VolumeData(
                data=torch.from_numpy(results['gt_seg'].astype(np.int64))[None])
        sample.set_metainfo({k: results[k] for k in self.META_KEYS if k in results})
        if 'panorama' in results:  # (3, H, W), or (V, 3, H, W) for several views; uint8 BGR
            pano = results['panorama']
            sample.panorama = torch.from_numpy(np.ascontiguousarray(np.moveaxis(pano, -1, -3)))
        if 'gt_panorama' in results:  # (H, W) or (V, H, W) uint8 labels
            sample.gt_panorama = torch.from_numpy(results['gt_panorama'])
        return dict(inputs=torch.from_numpy(np.ascontiguousarray(results['volume'])),
                    data_samples=sample)
