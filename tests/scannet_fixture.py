"""A small scene written in the ScanNet v2 file formats (mesh, segments, aggregation, label tsv).

A 3 x 2.5 m room without ceiling (as ScanNet scans are), walls 2.4 m high, normals into the
room, and a 0.7 m table box (normals out). Every planar part is a grid of 10 cm quads, one
segment per part. Labels: floor, walls, table; the y = 2.5 wall is a 'whiteboard' (an NYU40
class outside the benchmark) and the x = 3 wall is left unannotated, so both are ignored.
"""
import json
import os
import os.path as osp

import numpy as np
from plyfile import PlyData, PlyElement

TABLE = ((1.5, 2.2), (1.2, 1.8), 0.7)
TSV_ROWS = [('1', 'wall', 'wall', '100', '1'), ('2', 'floor', 'floor', '90', '2'),
            ('3', 'table', 'table', '50', '7'), ('4', 'whiteboard', 'whiteboard', '5', '30')]
COLOURS = dict(floor=(200, 100, 50), wall=(50, 200, 100), table=(90, 60, 220),
               whiteboard=(240, 240, 240), bare=(120, 120, 120))


def grid_quad(corner, u, v, normal, step=0.1):
    """Vertices and triangles of a gridded parallelogram, wound so they face ``normal``."""
    corner, u, v = (np.asarray(a, float) for a in (corner, u, v))
    if np.dot(np.cross(u, v), normal) < 0:
        u, v = v, u
    nu = max(int(round(np.linalg.norm(u) / step)), 1)
    nv = max(int(round(np.linalg.norm(v) / step)), 1)
    a, b = np.meshgrid(np.linspace(0, 1, nu + 1), np.linspace(0, 1, nv + 1), indexing='ij')
    verts = corner + a.reshape(-1, 1) * u + b.reshape(-1, 1) * v
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    q = np.stack([idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]], -1).reshape(-1, 4)
    faces = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    return verts, faces


def scene_parts():
    """(label, colour, vertices, faces) of every planar part."""
    (x0, x1), (y0, y1), top = TABLE
    h = 2.4
    parts = [
        ('floor', (0, 0, 0), (3, 0, 0), (0, 2.5, 0), (0, 0, 1)),
        ('wall', (0, 0, 0), (0, 2.5, 0), (0, 0, h), (1, 0, 0)),
        ('wall', (0, 0, 0), (3, 0, 0), (0, 0, h), (0, 1, 0)),
        ('whiteboard', (0, 2.5, 0), (3, 0, 0), (0, 0, h), (0, -1, 0)),
        ('bare', (3, 0, 0), (0, 2.5, 0), (0, 0, h), (-1, 0, 0)),
        ('table', (x0, y0, top), (x1 - x0, 0, 0), (0, y1 - y0, 0), (0, 0, 1)),
        ('table', (x0, y0, 0), (x1 - x0, 0, 0), (0, 0, top), (0, -1, 0)),
        ('table', (x0, y1, 0), (x1 - x0, 0, 0), (0, 0, top), (0, 1, 0)),
        ('table', (x0, y0, 0), (0, y1 - y0, 0), (0, 0, top), (-1, 0, 0)),
        ('table', (x1, y0, 0), (0, y1 - y0, 0), (0, 0, top), (1, 0, 0)),
    ]
    return [(name, COLOURS[name]) + grid_quad(c, u, v, n) for name, c, u, v, n in parts]


def write_scannet_scene(root, scene='scene0000_00', shift=(0.0, 0.0, 0.0), flip=False,
                        annotate=True):
    """Write ``root/scans/<scene>/`` and ``root/scannetv2-labels.combined.tsv``.

    Returns:
        dict: ``vertices`` (N, 3), ``faces``, ``colors`` and ``parts`` (N, ) part names.
    """
    scene_dir = osp.join(root, 'scans', scene)
    os.makedirs(scene_dir, exist_ok=True)
    verts, faces, colors, seg, names = [], [], [], [], []
    offset = 0
    for i, (name, colour, v, f) in enumerate(scene_parts()):
        verts.append(v + np.asarray(shift))
        faces.append(f + offset)
        colors.append(np.tile(colour, (len(v), 1)))
        seg += [i] * len(v)
        names += [name] * len(v)
        offset += len(v)
    verts, faces, colors = np.concatenate(verts), np.concatenate(faces), np.concatenate(colors)
    if flip:
        faces = faces[:, ::-1]
    vertex = np.empty(len(verts), [('x', 'f4'), ('y', 'f4'), ('z', 'f4'), ('red', 'u1'),
                                   ('green', 'u1'), ('blue', 'u1'), ('alpha', 'u1')])
    for k, col in zip('xyz', verts.T):
        vertex[k] = col
    for k, col in zip(('red', 'green', 'blue'), colors.T):
        vertex[k] = col
    vertex['alpha'] = 255
    face = np.empty(len(faces), [('vertex_indices', 'i4', (3, ))])
    face['vertex_indices'] = faces
    PlyData([PlyElement.describe(vertex, 'vertex'), PlyElement.describe(face, 'face')],
            byte_order='<').write(osp.join(scene_dir, f'{scene}_vh_clean_2.ply'))
    with open(osp.join(scene_dir, f'{scene}_vh_clean_2.0.010000.segs.json'), 'w') as f:
        json.dump(dict(sceneId=scene, segIndices=seg), f)
    if annotate:
        groups = [dict(id=i, objectId=i, segments=[i], label=name)
                  for i, (name, *_) in enumerate(scene_parts()) if name != 'bare']
        with open(osp.join(scene_dir, f'{scene}.aggregation.json'), 'w') as f:
            json.dump(dict(sceneId=scene, segGroups=groups), f)
    with open(osp.join(root, 'scannetv2-labels.combined.tsv'), 'w') as f:
        f.write('id\traw_category\tcategory\tcount\tnyu40id\n')
        f.writelines('\t'.join(r) + '\n' for r in TSV_ROWS)
    return dict(vertices=verts, faces=faces, colors=colors, parts=np.array(names))
