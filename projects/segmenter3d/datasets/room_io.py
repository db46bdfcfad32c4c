# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Reading room volumes (our format and the PanoRooms3D release) with input validation.

Our format (``.npz``): ``tsdf`` (X, Y, Z) voxel units, positive in free space, truncated to
+-3; ``rgb`` (3, X, Y, Z) uint8; ``labels`` (X, Y, Z) class ids (255 = ignore);
optional ``voxel_size``, ``origin`` (3,), ``camera`` (3,) in voxel coordinates.

Release format (``.npz``): ``sdf128`` (the reference's ``-3 * sdf128`` is +3 solid and -3 empty,
so our stored tsdf, positive in free space, is ``3 * sdf128``), ``color128`` packed
``b * 65536 + g * 256 + r``, ``semanticlabel`` raw 3D-FRONT ids 0..98 merged to 30 classes.
Colours and labels are kept only where the surface band or solid is (tsdf < 3), as in the
reference.

Sizes are checked before anything is decompressed: the shape and dtype each ``.npy`` member
declares in its header are read from the zip member alone (a few hundred bytes), and a room
beyond ``max_voxels`` (default :data:`MAX_VOXELS`, 600 M) is refused, as are complex and
object dtypes. A 2 MB zip bomb declaring a billion voxels costs a header read, not gigabytes.
"""
import os.path as osp
import zipfile
import zlib
from typing import Dict

import numpy as np

from ..encoding import IGNORE_INDEX, TRUNCATION, encode_input
from ..taxonomy import PANOROOMS3D_RAW_TO_CLASS, raw_to_class_lut

OUR_KEYS = ('tsdf', 'rgb', 'labels')
RELEASE_KEYS = ('sdf128', 'color128', 'semanticlabel')
_RAW_LUT = raw_to_class_lut(PANOROOMS3D_RAW_TO_CLASS)


def _fail(path: str, message: str):
    raise ValueError(f'{path}: {message}')


OPTIONAL_KEYS = ('voxel_size', 'origin', 'camera')


MAX_VOXELS = 600_000_000  # a room of 8.4 x 8.4 x 8.4 m at 1 cm; ~5 GB once loaded
VOXEL_SIZE_RANGE = (0.001, 1.0)  # metres: 1 mm .. 1 m
MAX_WORLD_METRES = 1e5  # farther from the world origin is a broken file, not a place
_ORIGIN_LIMIT = MAX_WORLD_METRES


def npz_headers(path: str) -> Dict[str, tuple]:
    """``{name: (shape, dtype)}`` of every array of an ``.npz``, read from the ``.npy`` headers
    of its zip members without decompressing their data.

    Raises:
        ValueError: naming the file: not a zip archive (e.g. a ``.npy`` named ``.npz``), or a
            member that is not a readable ``.npy``.
    """
    if not zipfile.is_zipfile(path):
        _fail(path, 'cannot be read as .npz: not a zip archive (corrupt or truncated, or a '
              '.npy file named .npz?)')
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith('.npy'):
                    continue
                with archive.open(info) as member:  # streams: only the header is inflated
                    version = np.lib.format.read_magic(member)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                    else:
                        _fail(path, f"member '{info.filename}' is a .npy of version {version}")
                headers[info.filename[:-len('.npy')]] = (tuple(shape), dtype)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, SyntaxError, zlib.error,
            RuntimeError, NotImplementedError) as err:  # also encrypted or unknown members
        if str(err).startswith(path):
            raise
        _fail(path, f'cannot be read as .npz (corrupt or truncated?): {err}')
    return headers


def _check_sizes(path: str, headers: Dict[str, tuple], keys, max_voxels: int) -> None:
    """Refuse, before decompressing, arrays beyond the voxel cap and dtypes no room has."""
    for key in keys:
        shape, dtype = headers[key]
        if dtype.kind not in 'biuf':
            _fail(path, f"field '{key}' has dtype {dtype}; rooms hold real numbers (no complex, "
                  'object, string or structured values)')
        count = int(np.prod(shape, dtype=np.float64))
        if key in OPTIONAL_KEYS:
            if count > 3:
                _fail(path, f"field '{key}' has shape {shape}, expected at most 3 numbers")
            continue
        voxels = count // 3 if key in ('rgb', ) else count
        if voxels > max_voxels:
            _fail(path, f"field '{key}' declares shape {shape}: {voxels:,} voxels, beyond the "
                  f'limit of {max_voxels:,} (refused before decompressing; raise max_voxels, '
                  'e.g. tools/infer.py --max-voxels, for a room really that large)')


def room_shape(path: str, max_voxels: int = MAX_VOXELS) -> tuple:
    """(X, Y, Z) a room file declares, after the size and dtype checks of :func:`load_room`;
    nothing is decompressed. () when the file has neither ``tsdf`` nor ``sdf128``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: room volume not found')
    headers = npz_headers(path)
    ours = all(k in headers for k in OUR_KEYS[:2])
    _check_sizes(path, headers, [k for k in OUR_KEYS + RELEASE_KEYS + OPTIONAL_KEYS
                                 if k in headers], max_voxels)
    shape = headers.get('tsdf' if ours else 'sdf128', ((), None))[0]
    return tuple(int(n) for n in shape)


def _open(path: str, max_voxels: int = MAX_VOXELS) -> Dict[str, np.ndarray]:
    """The arrays of a room that are used, and only those (an .npz may hold anything else:
    nothing unused is decompressed), after their declared sizes passed the cap."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: room volume not found')
    headers = npz_headers(path)
    names = set(headers)
    ours = all(k in names for k in OUR_KEYS[:2])  # labels are optional
    keys = [k for k in (OUR_KEYS if ours else RELEASE_KEYS) + OPTIONAL_KEYS if k in names]
    # every array either format would read, before a missing key is reported
    _check_sizes(path, headers, [k for k in OUR_KEYS + RELEASE_KEYS + OPTIONAL_KEYS
                                 if k in names], max_voxels)
    _check_declared_grid(path, headers, OUR_KEYS if ours else RELEASE_KEYS)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in keys}, sorted(names)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error, RuntimeError,
            NotImplementedError) as err:  # damaged, encrypted or unknown-method members
        _fail(path, f'cannot be read as .npz (corrupt or truncated?): {err}')


def _check_declared_grid(path: str, headers: Dict[str, tuple], keys) -> None:
    """Before anything is decompressed: the grid field declares three axes and every other
    volume field the grid's shape (colour: three channels of it), so no field inflates to
    more than the room holds. The messages are those of the checks after loading."""
    if keys[0] not in headers:
        return
    grid = tuple(headers[keys[0]][0])
    if len(grid) != 3:
        _fail(path, f"field '{keys[0]}' must have shape (X, Y, Z), got {grid}")
    for key in keys[1:]:
        want = (3, ) + grid if key == 'rgb' else grid
        if key in headers and tuple(headers[key][0]) != want:
            _fail(path, f"field '{key}' has shape {tuple(headers[key][0])}, expected {want}")


def _check_finite(path: str, name: str, arr: np.ndarray) -> None:
    if not np.isfinite(arr).all():
        _fail(path, f"field '{name}' contains NaN or Inf")


def load_room(path: str, num_classes: int = 30, with_labels: bool = True,
              max_voxels: int = MAX_VOXELS) -> Dict[str, np.ndarray]:
    """Read and validate a room in either format.

    Rooms may come without 3D labels (panorama-only rooms for distillation), or their labels
    may be left unread (``with_labels=False``): every voxel is then labelled 255 (ignored) and
    ``labelled`` is False. Arrays declaring more than ``max_voxels`` voxels are refused before
    they are decompressed.

    Returns:
        dict: ``tsdf`` (X, Y, Z) float32, ``rgb`` (3, X, Y, Z) uint8, ``labels`` (X, Y, Z)
        uint8, ``observed`` (X, Y, Z) bool (tsdf below the truncation), and the optional
        ``voxel_size``, ``origin``, ``camera`` when present; ``format`` is 'ours' or 'release'.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the file and the field: unreadable file, missing key, shape or dtype
            mismatch, NaN/Inf, labels out of range, a room without any surface, a room beyond
            ``max_voxels``, or a voxel size, origin or camera outside its physical range.
    """
    data, found = _open(path, max_voxels)
    labelled = 'labels' in data or 'semanticlabel' in data
    if not labelled or not with_labels:  # a room without 3D labels: every voxel ignored
        shape = (data.get('tsdf') if 'tsdf' in data else data.get('sdf128', np.zeros(0))).shape
        data.pop('labels', None)
        data.pop('semanticlabel', None)
        if 'tsdf' in data:
            data['labels'] = np.full(shape, IGNORE_INDEX, np.uint8)
        elif 'sdf128' in data:
            data['semanticlabel'] = None
    if all(k in data for k in OUR_KEYS):
        room = _from_ours(path, data, num_classes)
    elif all(k in data for k in RELEASE_KEYS):
        room = _from_release(path, data)
    else:
        missing_ours = [k for k in OUR_KEYS if k not in found]
        missing_rel = [k for k in RELEASE_KEYS if k not in found]
        _fail(path, f'missing keys: neither our format (lacks {missing_ours}) nor the release '
              f'format (lacks {missing_rel}); found {found}')
    observed = room['tsdf'] < TRUNCATION
    tsdf = room['tsdf']
    if not ((tsdf > -1) & (tsdf < 1)).any():
        _fail(path, "field 'tsdf' has no surface (no |tsdf| < 1): empty room")
    room['observed'] = observed
    room['labelled'] = labelled and with_labels
    for key in OPTIONAL_KEYS:
        if key in data:
            room[key] = _check_geometry(path, key, data[key])
    if 'camera' in room:  # rays from outside would see the room's outer faces, or nothing
        top = np.array(tsdf.shape) - 1
        if ((room['camera'] < 0) | (room['camera'] > top)).any():
            _fail(path, f"field 'camera' {[round(float(c), 2) for c in room['camera']]} lies "
                  f'outside the room (voxel coordinates 0..{top.tolist()}); a panorama is seen '
                  'from inside')
    return room


def _numbers(values) -> str:
    return '[' + ', '.join(f'{float(v):g}' for v in np.ravel(values)) + ']'


def _check_geometry(path: str, key: str, value: np.ndarray) -> np.ndarray:
    """``voxel_size`` a positive scalar; ``origin`` and ``camera`` three finite numbers."""
    if not np.issubdtype(value.dtype, np.number) or np.issubdtype(value.dtype, np.complexfloating):
        _fail(path, f"field '{key}' must be numeric, got {value.dtype}")
    shape = () if key == 'voxel_size' else (3, )
    if value.shape != shape and not (key == 'voxel_size' and value.shape == (1, )):
        _fail(path, f"field '{key}' must have shape {shape}, got {value.shape}")
    value = np.asarray(value, np.float32).reshape(shape)
    if not np.isfinite(value).all():
        _fail(path, f"field '{key}' contains NaN or Inf")
    if key == 'voxel_size' and value <= 0:
        _fail(path, f"field 'voxel_size' must be positive, got {float(value)}")
    low, high = VOXEL_SIZE_RANGE
    if key == 'voxel_size' and not low <= value <= high:
        _fail(path, f"field 'voxel_size' is {float(value):g} m; a room's voxels are between "
              f'{low * 1000:g} mm and {high:g} m')
    if key == 'origin' and (np.abs(value) > _ORIGIN_LIMIT).any():
        _fail(path, f"field 'origin' {_numbers(value)} is more than {_ORIGIN_LIMIT:g} m from "
              'the world origin')
    return value


def _integer_labels(path: str, name: str, labels: np.ndarray) -> np.ndarray:
    """Labels as uint8 as stored, or int64: integers, or floats holding whole numbers (anything
    else is refused, never truncated)."""
    if labels.dtype == np.uint8:  # the stored type: no room-sized int64 copy
        return labels
    if np.issubdtype(labels.dtype, np.integer):
        return labels.astype(np.int64)
    if not np.issubdtype(labels.dtype, np.floating):
        _fail(path, f"field '{name}' must hold integer class ids, got {labels.dtype}")
    if not np.isfinite(labels).all():
        _fail(path, f"field '{name}' contains NaN or Inf")
    if (labels != np.round(labels)).any():
        bad = labels[labels != np.round(labels)][:3]
        _fail(path, f"field '{name}' holds non-integer ids, e.g. {bad.tolist()}")
    return labels.astype(np.int64)


def _colours(path: str, rgb: np.ndarray) -> np.ndarray:
    """uint8 colours. Other numeric types must hold 0..255 (rounded); float colours that all
    lie in 0..1 with fractions are refused: they are 0..1 colours, to be scaled by 255."""
    if rgb.dtype == np.uint8:
        return rgb
    if (not np.issubdtype(rgb.dtype, np.number) or rgb.dtype == np.bool_
            or np.issubdtype(rgb.dtype, np.complexfloating)):
        _fail(path, f"field 'rgb' must be uint8 or numbers in 0..255, got {rgb.dtype}")
    if np.issubdtype(rgb.dtype, np.floating):
        if not np.isfinite(rgb).all():
            _fail(path, "field 'rgb' contains NaN or Inf")
        if rgb.size and rgb.max() <= 1.0 and (rgb != np.round(rgb)).any():
            _fail(path, "field 'rgb' holds floats in 0..1; colours are 0..255 (multiply by 255)")
    if rgb.size and (rgb.min() < 0 or rgb.max() > 255):
        _fail(path, f"field 'rgb' must be in 0..255, got {rgb.min()}..{rgb.max()}")
    return np.round(rgb).astype(np.uint8)


def _from_ours(path: str, data: Dict[str, np.ndarray], num_classes: int) -> Dict:
    tsdf, rgb, labels = data['tsdf'], data['rgb'], data['labels']
    if tsdf.ndim != 3:
        _fail(path, f"field 'tsdf' must have shape (X, Y, Z), got {tsdf.shape}")
    if not np.issubdtype(tsdf.dtype, np.floating):
        _fail(path, f"field 'tsdf' must be floating point, got {tsdf.dtype}")
    if rgb.shape != (3, ) + tsdf.shape:
        _fail(path, f"field 'rgb' has shape {rgb.shape}, expected {(3, ) + tsdf.shape}")
    if labels.shape != tsdf.shape:
        _fail(path, f"field 'labels' has shape {labels.shape}, expected {tsdf.shape}")
    labels = _integer_labels(path, 'labels', labels)
    _check_finite(path, 'tsdf', tsdf)
    bad = (labels >= num_classes) & (labels != 255) | (labels < 0)
    if bad.any():
        _fail(path, f"field 'labels' has values out of range {sorted(np.unique(labels[bad]))[:5]}"
              f' (classes 0..{num_classes - 1}, 255 = ignore)')
    rgb = _colours(path, rgb)
    tsdf = tsdf.astype(np.float32)
    np.clip(tsdf, -TRUNCATION, TRUNCATION, out=tsdf)  # in place: no second room-sized copy
    return dict(tsdf=tsdf, rgb=rgb, labels=labels.astype(np.uint8, copy=False), format='ours')


def _from_release(path: str, data: Dict[str, np.ndarray]) -> Dict:
    sdf, color, raw = data['sdf128'], data['color128'], data['semanticlabel']
    if sdf.ndim != 3:
        _fail(path, f"field 'sdf128' must have shape (X, Y, Z), got {sdf.shape}")
    if raw is None:  # unlabelled: raw id 0 maps to void, then every voxel is ignored below
        raw = np.zeros(sdf.shape, np.int64)
    for name, arr in (('color128', color), ('semanticlabel', raw)):
        if arr.shape != sdf.shape:
            _fail(path, f"field '{name}' has shape {arr.shape}, expected {sdf.shape}")
    _check_finite(path, 'sdf128', sdf)
    raw = _integer_labels(path, 'semanticlabel', raw)
    if raw.min() < 0 or raw.max() > 98:
        _fail(path, f"field 'semanticlabel' has raw ids outside 0..98 "
              f'(min {raw.min()}, max {raw.max()})')
    tsdf = np.clip(3.0 * sdf.astype(np.float32), -TRUNCATION, TRUNCATION)
    keep = tsdf < TRUNCATION
    used = color[keep]  # colours of empty voxels are dropped below, whatever they hold
    _check_finite(path, 'color128', used)
    if used.size and (used.min() < 0 or used.max() > 0xFFFFFF):
        _fail(path, f"field 'color128' holds packed colours outside 0..{0xFFFFFF} "
              f'(min {used.min():g}, max {used.max():g})')
    packed = np.where(keep, color, 0).astype(np.int64)
    rgb = np.stack([packed % 256, (packed // 256) % 256, (packed // 65536) % 256]).astype(np.uint8)
    rgb[:, ~keep] = 0
    labels = _RAW_LUT[raw]
    labels[~keep] = 0
    if data['semanticlabel'] is None:
        labels[:] = IGNORE_INDEX
    return dict(tsdf=tsdf, rgb=rgb, labels=labels, format='release')


def room_to_input(room: Dict[str, np.ndarray]) -> np.ndarray:
    """(4, X, Y, Z) float32 network input of a loaded room, in the reference release's encoding
    (:func:`segmenter3d.encoding.encode_input`: -tsdf, then colour 2c - 1, -1 where unobserved)."""
    return encode_input(room['tsdf'], room['rgb'])
