# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Reading ScanNet v2 scenes: the ``_vh_clean_2.ply`` mesh and its semantic annotation.

Per-vertex labels follow the benchmark's own recipe: ``<scene>_vh_clean_2.0.010000.segs.json``
gives each vertex a segment, ``<scene>.aggregation.json`` groups segments into labelled objects,
``scannetv2-labels.combined.tsv`` maps each label (column ``raw_category``) to an NYU40 id
(column ``nyu40id``), and the 20 benchmark classes keep their NYU40 ids (everything else and
every unannotated vertex is 255, ignored).
"""
import csv
import json
import os.path as osp
from typing import Dict, Iterator, Optional, Tuple

import numpy as np
from plyfile import PlyData

from ..encoding import IGNORE_INDEX as IGNORE
from ..taxonomy import SCANNET20_NYU40_TO_CLASS, raw_to_class_lut
from .mesh_to_volume import mesh_to_volume
from .room_io import MAX_WORLD_METRES

NYU40_LUT = raw_to_class_lut(SCANNET20_NYU40_TO_CLASS, size=256, default=IGNORE)
CLASS_TO_NYU40 = np.array([nyu for nyu, _ in sorted(SCANNET20_NYU40_TO_CLASS.items(),
                                                    key=lambda kv: kv[1])], np.int64)


def scene_files(scene_dir: str) -> Dict[str, str]:
    """The standard file names of a scene folder ``scans/<scene>/``."""
    scene = osp.basename(osp.normpath(scene_dir))
    return dict(mesh=osp.join(scene_dir, f'{scene}_vh_clean_2.ply'),
                segs=osp.join(scene_dir, f'{scene}_vh_clean_2.0.010000.segs.json'),
                aggregation=osp.join(scene_dir, f'{scene}.aggregation.json'))


MAX_MESH_METRES = MAX_WORLD_METRES  # a vertex farther than this is a broken mesh


def read_mesh(path: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices (N, 3) float64 metres, faces (F, 3) int64, colours (N, 3) uint8 RGB."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: mesh not found')
    try:
        ply = PlyData.read(path)
    except Exception as err:  # plyfile raises several types on a damaged header or body
        raise ValueError(f'{path}: cannot be read as PLY (corrupt or truncated?): {err}') from err
    names = [e.name for e in ply.elements]
    for element in ('vertex', 'face'):
        if element not in names:
            raise ValueError(f"{path}: no '{element}' element (found {names})")
    vertex = ply['vertex'].data
    fields = vertex.dtype.names
    for field in ('x', 'y', 'z', 'red', 'green', 'blue'):
        if field not in fields:
            raise ValueError(f"{path}: vertex field '{field}' missing (found {list(fields)})")
        if vertex.dtype[field].kind not in 'biuf' or vertex.dtype[field].shape:
            raise ValueError(f"{path}: vertex field '{field}' must be one number per vertex, "
                             f'got {vertex.dtype[field]} (a list property?)')
    verts = np.stack([vertex[k] for k in 'xyz'], 1).astype(np.float64)
    if not np.isfinite(verts).all():
        raise ValueError(f"{path}: vertex positions contain NaN or Inf")
    if len(verts) and np.abs(verts).max() > MAX_MESH_METRES:
        raise ValueError(f'{path}: vertex positions reach {np.abs(verts).max():.3g} m, beyond '
                         f'{MAX_MESH_METRES:g} m from the origin')
    colors = np.stack([vertex[k] for k in ('red', 'green', 'blue')], 1)
    if len(colors) and not (np.isfinite(colors).all() and colors.min() >= 0 and
                            colors.max() <= 255):
        raise ValueError(f"{path}: vertex colours (red, green, blue) must lie in 0..255, got "
                         f'{colors.min():g}..{colors.max():g}')
    colors = np.round(colors).astype(np.uint8)
    face_data = ply['face'].data
    if not face_data.dtype.names:
        raise ValueError(f"{path}: the 'face' element has no property (vertex_indices)")
    key = face_data.dtype.names[0]  # 'vertex_indices' (ScanNet) or 'vertex_index'
    sizes = {len(f) for f in face_data[key]} if face_data[key].dtype == object else {None}
    if len(face_data) and sizes != {3}:
        raise ValueError(f"{path}: face field '{key}' must list triangles, got faces of "
                         f'{sorted(sizes, key=str)} vertices')
    faces = np.stack([np.asarray(f, np.int64) for f in face_data[key]]) if len(face_data) else \
        np.zeros((0, 3), np.int64)
    if len(faces) == 0:
        raise ValueError(f'{path}: the mesh has no faces')
    if faces.min() < 0 or faces.max() >= len(verts):
        raise ValueError(f"{path}: face field '{key}' indexes vertex {faces.max()} of "
                         f'{len(verts)}')
    return verts, faces, colors


def _read_json(path: str) -> dict:
    """A JSON object from ``path``; anything else (an array, a number) is named."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: not found')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f'{path}: not valid JSON (corrupt or truncated?): {err}') from err
    except OSError as err:  # e.g. no permission to read it
        raise ValueError(f'{path}: cannot be read ({err.strerror or err})') from None
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object, got {type(data).__name__}')
    return data


def _integers(value, path: str, field: str) -> np.ndarray:
    """A JSON field that must be a list of integers, as (N, ) int64."""
    array = None
    if isinstance(value, list) and all(type(v) is int for v in value):  # not 1.7, not True
        try:
            array = np.asarray(value, np.int64)
        except OverflowError:
            array = None
    if array is None or array.ndim != 1:
        raise ValueError(f'{path}: field {field} must be a list of integers, got '
                         f'{str(value)[:60]}')
    return array


def _tsv_rows(tsv_path: str, columns) -> Iterator[Tuple[int, dict]]:
    """(line number, row) of ScanNet's label table, after checking it has ``columns``."""
    if not osp.isfile(tsv_path):
        raise FileNotFoundError(f'{tsv_path}: ScanNet label table not found (it ships with '
                                'ScanNet as scannetv2-labels.combined.tsv)')
    try:
        with open(tsv_path, newline='', encoding='utf-8') as f:
            reader = csv.DictReader(f, delimiter='\t')
            for column in columns:
                if column not in (reader.fieldnames or []):
                    raise ValueError(f"{tsv_path}: column '{column}' missing "
                                     f'(found {reader.fieldnames})')
            yield from enumerate(reader, start=2)
    except (csv.Error, UnicodeDecodeError) as err:
        raise ValueError(f'{tsv_path}: not a tab-separated UTF-8 label table ({err})') from None


def read_label_map(tsv_path: str) -> Dict[str, int]:
    """``raw_category`` -> NYU40 id from ``scannetv2-labels.combined.tsv``."""
    mapping = {}
    for line, row in _tsv_rows(tsv_path, ('raw_category', 'nyu40id')):
        try:
            mapping[row['raw_category']] = int(row['nyu40id'])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{tsv_path}: line {line}: column 'nyu40id' is not an "
                             f"integer: {row.get('nyu40id')!r}") from err
    return mapping


def read_label_ids(tsv_path: str) -> np.ndarray:
    """Look-up table (65536,) uint8 from the raw label ids of ScanNet's 2D label images
    (``label-filt/<i>.png``: column ``id`` of ``scannetv2-labels.combined.tsv``) to the 20
    benchmark classes, as the mesh labels map (via ``nyu40id``); 255 for everything else."""
    lut = np.full(65536, IGNORE, np.uint8)
    for line, row in _tsv_rows(tsv_path, ('id', 'nyu40id')):
        try:
            raw, nyu = int(row['id']), int(row['nyu40id'])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{tsv_path}: line {line}: columns 'id' and 'nyu40id' must be "
                             f"integers, got {row.get('id')!r}, {row.get('nyu40id')!r}"
                             ) from err
        if 0 < raw < len(lut):  # 0 is 'unannotated' in the label images
            lut[raw] = NYU40_LUT[nyu] if 0 <= nyu < 256 else IGNORE
    return lut


def read_vertex_labels(segs_path: str, aggregation_path: str, label_map: Dict[str, int],
                       num_vertices: int) -> np.ndarray:
    """Per-vertex benchmark class (0..19, 255 = ignored) of a scene, (N, ) uint8."""
    segs = _read_json(segs_path)
    if 'segIndices' not in segs:
        raise ValueError(f"{segs_path}: field 'segIndices' missing")
    seg_of_vertex = _integers(segs['segIndices'], segs_path, "'segIndices'")
    if seg_of_vertex.shape != (num_vertices, ):
        raise ValueError(f"{segs_path}: field 'segIndices' has {seg_of_vertex.size} entries but "
                         f'the mesh has {num_vertices} vertices')
    aggregation = _read_json(aggregation_path)
    if 'segGroups' not in aggregation:
        raise ValueError(f"{aggregation_path}: field 'segGroups' missing")
    nyu40 = np.zeros(num_vertices, np.int64)  # 0 = unannotated
    order = np.argsort(seg_of_vertex, kind='stable')
    sorted_segs = seg_of_vertex[order]
    if not isinstance(aggregation['segGroups'], list):
        raise ValueError(f"{aggregation_path}: field 'segGroups' must be a list")
    for i, group in enumerate(aggregation['segGroups']):
        if not isinstance(group, dict) or 'segments' not in group or 'label' not in group:
            raise ValueError(f"{aggregation_path}: segGroups[{i}] lacks 'segments' or 'label'")
        if not isinstance(group['label'], str):
            raise ValueError(f"{aggregation_path}: segGroups[{i}]['label'] must be a string")
        nyu = label_map.get(group['label'], 0)
        segments = _integers(group['segments'], aggregation_path,
                             f"segGroups[{i}]['segments']")
        lo = np.searchsorted(sorted_segs, segments, 'left')
        hi = np.searchsorted(sorted_segs, segments, 'right')
        for a, b in zip(lo, hi):
            nyu40[order[a:b]] = nyu
    return NYU40_LUT[np.clip(nyu40, 0, 255)]


def read_scene(scene_dir: str, label_map: Optional[Dict[str, int]] = None) -> Dict:
    """Mesh and (when ``label_map`` is given and the annotation exists) vertex labels."""
    files = scene_files(scene_dir)
    verts, faces, colors = read_mesh(files['mesh'])
    scene = dict(name=osp.basename(osp.normpath(scene_dir)), vertices=verts, faces=faces,
                 colors=colors, labels=None)
    if label_map is not None:
        scene['labels'] = read_vertex_labels(files['segs'], files['aggregation'], label_map,
                                             len(verts))
    return scene


def scannet_scene_to_volume(scene_dir: str, label_map: Optional[Dict[str, int]] = None,
                            voxel_size: float = 0.04) -> Tuple[Dict, Dict]:
    """A scene folder to our room format and its vertex table.

    Returns:
        tuple: the room (``tsdf``, ``rgb``, ``labels``, ``voxel_size``, ``origin``, ``camera``)
        and the vertices (``voxel`` (N, 3) int32: the voxel each mesh vertex falls in;
        ``labels`` (N, ) uint8 ground truth when annotated).
    """
    scene = read_scene(scene_dir, label_map)
    try:
        room = mesh_to_volume(scene['vertices'], scene['faces'], scene['colors'],
                              scene['labels'], voxel_size)
    except ValueError as err:  # named by the scene it came from
        raise ValueError(f'{scene_dir}: {err}') from None
    vertices = dict(voxel=room.pop('vertex_voxel'))
    if scene['labels'] is not None:
        vertices['labels'] = scene['labels']
    return room, vertices
