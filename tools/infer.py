# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Segment a whole room with a trained model.

    python tools/infer.py ROOM.npz --config C --checkpoint K --out DIR

ROOM is in our format, the PanoRooms3D release format, or a ScanNet mesh
(``<scene>_vh_clean_2.ply``, voxelised at ``--voxel-size``, default 4 cm). Writes
``DIR/<room>_labels.npz`` (uint8 label volume; for a mesh also ``vertex_labels``),
``DIR/<room>_pred.ply`` (the TSDF surface, or the input mesh, coloured by predicted class with a
per-vertex label), ``DIR/<room>_pano.png`` (the prediction seen from the room's panorama camera,
or the volume centre) and, for a mesh with a 20-class model, ``DIR/<scene>.txt``: one NYU40 id
per vertex, the ScanNet benchmark's submission format.

With ``--frames SCAN_DIR`` (the scan the room was fused from, ``tools/data/fuse_rgbd.py``),
also ``DIR/<room>_frames/label/<i>.png`` for every frame: the predicted label of the voxel at
each depth pixel's first surface hit (255 where the ray hits nothing), and
``DIR/<room>_frames/overlay/<i>.jpg``, the frame's colour under the labels; for a ScanNet
model also ``DIR/<room>_frames/label-nyu40/<i>.png``, ScanNet's 2D label format.

Nothing but its own outputs is written: an ``--out`` that holds the input (a scene folder) is
refused, and so is an existing file of an output's name that this tool did not write there.
Before the room is read, its cost is estimated (:mod:`segmenter3d.apis.room_budget`) and a
room beyond ``--max-memory-gb`` / ``--max-minutes`` (or ``--max-voxels``) is refused with the
estimate in the message.
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np

from segmenter3d.apis import init_segmentor, predict_room
from segmenter3d.apis.room_budget import check_budget, physical_memory_gb
from segmenter3d.datasets import load_room, mesh_to_volume, room_to_input
from segmenter3d.datasets.mesh_to_volume import MAX_SURFACE_SAMPLES
from segmenter3d.datasets.room_io import MAX_VOXELS, VOXEL_SIZE_RANGE
from segmenter3d.datasets.room_io import room_shape as volume_shape
from segmenter3d.datasets.scannet_io import CLASS_TO_NYU40, read_mesh
from segmenter3d.encoding import observed
from segmenter3d.engine.option_checks import check_device
from segmenter3d.evaluation import vertex_predictions
from segmenter3d.fileio import claim_outputs, save_npz_atomic, write_text_atomic
from segmenter3d.rendering import room_camera
from segmenter3d.taxonomy import (
    PANOROOMS3D_CLASSES,
    PANOROOMS3D_PALETTE,
    SCANNET20_CLASSES,
    SCANNET20_PALETTE,
)
from segmenter3d.visualization import label_mesh, panorama_figure, write_ply, write_png

MAX_FRAME_RAYS = 10_000_000  # a 4K depth frame is 8.3 M; ScanNet's 0.3 M


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Segment a whole room with a trained model.')
    p.add_argument('room', help='room volume (.npz, our or the release format) or a mesh (.ply)')
    p.add_argument('--config', required=True)
    p.add_argument('--checkpoint', required=True)
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--device', default='cpu')
    p.add_argument('--voxel-size', type=float, default=None,
                   help='metres per voxel: for a mesh, the voxelisation (default 0.04); for a '
                   'volume, when the file does not say (release: 0.04)')
    p.add_argument('--flip-normals', action='store_true',
                   help='a mesh whose faces point away from the scanned free space')
    p.add_argument('--frames', default=None, metavar='SCAN_DIR',
                   help='the RGB-D scan the room was fused from: write a label image and an '
                   'overlay per frame')
    p.add_argument('--max-voxels', type=int, default=MAX_VOXELS,
                   help='refuse volumes declaring more voxels, before reading them')
    p.add_argument('--max-memory-gb', type=float,
                   default=round(min(16.0, 0.75 * physical_memory_gb()), 1),
                   help='refuse rooms estimated to need more memory (default: 16 GB or 3/4 '
                   'of the RAM, whichever is less)')
    p.add_argument('--max-minutes', type=float, default=10,
                   help='refuse rooms estimated to take longer on the CPU (default: 10)')
    p.add_argument('--no-limits', action='store_true', help='skip the cost estimate check')
    return p.parse_args(argv)


def output_paths(args) -> list:
    """Every file (and the frames folder) this run may write."""
    name = osp.splitext(osp.basename(args.room))[0]
    paths = [osp.join(args.out, name + s) for s in ('_labels.npz', '_pred.ply', '_pano.png')]
    if args.room.lower().endswith('.ply'):
        scene = name[:-len('_vh_clean_2')] if name.endswith('_vh_clean_2') else name
        paths.append(osp.join(args.out, scene + '.txt'))
    if args.frames is not None:
        paths.append(osp.join(args.out, name + '_frames'))
    return paths


def room_shape(args, mesh=None) -> tuple:
    """(X, Y, Z) of the room from the volume's header or the mesh's bounds (nothing decoded)."""
    if mesh is not None:
        extent = mesh[0].max(0) - mesh[0].min(0) if len(mesh[0]) else np.zeros(3)
        return tuple(int(n) for n in np.ceil(extent / (args.voxel_size or 0.04)) + 9)
    shape = volume_shape(args.room, args.max_voxels)
    if len(shape) == 3 and min(shape) < 2:  # marching cubes and the raycaster need cells
        raise ValueError(f'{args.room}: tsdf has shape {tuple(shape)}; a room needs at least '
                         '2 voxels along every axis')
    return shape


def read_input(args, mesh=None):
    """The room, and for a mesh its (vertices, faces, vertex voxel)."""
    if not args.room.lower().endswith('.ply'):
        return load_room(args.room, max_voxels=args.max_voxels), None
    verts, faces, colors = mesh
    if args.flip_normals:
        faces = faces[:, ::-1].copy()
    try:
        room = mesh_to_volume(verts, faces, colors, None, args.voxel_size or 0.04,
                              max_samples=None if args.no_limits else MAX_SURFACE_SAMPLES)
    except ValueError as err:
        raise ValueError(f'{args.room}: {err}') from None
    room['observed'] = observed(room['tsdf'])
    return room, (verts, faces, room.pop('vertex_voxel'))


def build_model(args):
    """The model of ``--config`` with the ``--checkpoint`` weights. A config is Python that
    mmengine executes (use configs you trust); its failures are named errors here."""
    from mmengine.config import Config
    if not osp.lexists(args.config):
        raise FileNotFoundError(f'{args.config}: config not found')
    if not osp.isfile(args.config):
        raise ValueError(f'{args.config}: not a regular file')
    try:
        cfg = Config.fromfile(args.config)
        cfg.model  # noqa: B018  (a config without a model is named here)
    except Exception as err:  # its own code may raise anything: all of it is the config's
        raise ValueError(f'{args.config}: not a usable config ({type(err).__name__}: '
                         f'{err})') from None
    try:
        return init_segmentor(cfg, args.checkpoint, args.device)
    except (KeyError, TypeError, AttributeError) as err:  # the registry, the model's fields
        raise ValueError(f'{args.config}: the model cannot be built ({type(err).__name__}: '
                         f'{err})') from None


def load_inputs(args):
    """(room, mesh, scan, model), cheapest checks first: the room's declared size, the model,
    the estimated cost and the output names, all before the room is decoded."""
    if not osp.isfile(args.room):
        raise FileNotFoundError(f'{args.room}: room not found')
    check_device(args.device)
    low, high = VOXEL_SIZE_RANGE
    if args.voxel_size is not None and not low <= args.voxel_size <= high:
        raise ValueError(f'--voxel-size {args.voxel_size:g}: metres per voxel, between '
                         f'{low:g} and {high:g}')
    mesh = read_mesh(args.room) if args.room.lower().endswith('.ply') else None
    shape = room_shape(args, mesh)
    scan = None
    if args.frames is not None:
        from segmenter3d.datasets.rgbd_scan import ScanFolder
        scan = ScanFolder(args.frames, with_labels=False)
        scan.check_poses()  # before anything is written, not at the frame that is bad
        h, w = scan.depth_size
        if h * w > MAX_FRAME_RAYS:  # a ray per depth pixel, cast after the room's outputs
            raise ValueError(f'{args.frames}: depth frames of {w}x{h} are more than '
                             f'{MAX_FRAME_RAYS:,} rays to cast each')
    model = build_model(args)
    if not args.no_limits and len(shape) == 3:
        check_budget(args.room, shape, model, args.max_memory_gb, args.max_minutes,
                     str(args.device))
    claim_outputs(args.out, output_paths(args), [args.room] + [args.frames or args.room])
    room, mesh = read_input(args, mesh)
    if scan is not None and (mesh is not None or 'origin' not in room):
        raise ValueError(f'{args.room}: --frames needs a room fused from the frames '
                         '(tools/data/fuse_rgbd.py), with its origin')
    return room, mesh, scan, model


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        room, mesh, scan, model = load_inputs(args)
    except (ValueError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    scannet = model.num_classes == len(SCANNET20_PALETTE)
    meta = model.dataset_meta or {}
    palette = meta.get('palette') or (SCANNET20_PALETTE if scannet else PANOROOMS3D_PALETTE)
    classes = meta.get('classes') or (SCANNET20_CLASSES if scannet else PANOROOMS3D_CLASSES)
    volume = room_to_input(room)
    for key in ('rgb', 'observed', 'labels'):  # in the input now, or unused: memory back
        room.pop(key, None)
    labels = predict_room(model, volume, progress=True)  # no room-sized logits held
    name = osp.splitext(osp.basename(args.room))[0]
    os.makedirs(args.out, exist_ok=True)
    out = osp.join(args.out, name)
    extra, written = {}, [f'{out}_labels.npz']
    if mesh is None:
        voxel = float(room.get('voxel_size', args.voxel_size or 1.0))
        tsdf = room['tsdf']
        if tsdf.min() < 0 < tsdf.max():
            verts, faces, colors, vert_labels = label_mesh(tsdf, labels, palette, voxel,
                                                           room.get('origin'))
        else:  # all free space or all solid: labels, but no surface to mesh
            verts = None
            print(f'{args.room}: the TSDF has no zero crossing; no mesh written',
                  file=sys.stderr)
    else:
        verts, faces, vertex_voxel = mesh
        vert_labels = vertex_predictions(labels, vertex_voxel)
        colors = np.asarray(palette, np.uint8)[vert_labels]
        extra['vertex_labels'] = vert_labels
        if len(palette) == len(CLASS_TO_NYU40):  # a ScanNet model: benchmark submission file
            scene = name[:-len('_vh_clean_2')] if name.endswith('_vh_clean_2') else name
            txt = osp.join(args.out, scene + '.txt')
            write_text_atomic(txt, '\n'.join(map(str, CLASS_TO_NYU40[vert_labels])) + '\n')
    save_npz_atomic(out + '_labels.npz', labels=labels, **extra)
    if verts is not None:
        write_ply(out + '_pred.ply', verts, faces, colors, vert_labels)
        written.append(f'{out}_pred.ply ({len(verts)} vertices)')
    camera = room_camera(room['tsdf'].shape, room.get('camera'))
    write_png(out + '_pano.png', panorama_figure(volume, camera, {'prediction': labels}, palette,
                                              class_names=classes))
    written.append(f'{out}_pano.png')
    if scan is not None:
        from segmenter3d.apis.frames import label_frames
        try:
            nyu40 = CLASS_TO_NYU40 if len(palette) == len(CLASS_TO_NYU40) else None
            done = label_frames(room, labels, args.frames, f'{out}_frames', palette, scan=scan,
                                nyu40=nyu40, class_names=classes)
        except (ValueError, FileNotFoundError) as err:
            print(f'error: {err}', file=sys.stderr)
            return 1
        written.append(f"{out}_frames/{{label,overlay}} ({done['written']} frames, "
                       f"{done['skipped']} without a pose)")
    counts = np.bincount(labels.ravel(), minlength=len(palette))
    print(f'\n{name}: {labels.shape} voxels -> {", ".join(written)}; classes present: '
          f'{int((counts > 0).sum())}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
