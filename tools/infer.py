# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Segment a whole room with a trained model.

    python tools/infer.py ROOM.npz --config C --checkpoint K --out DIR

ROOM is in our format or the PanoRooms3D release format. Writes ``DIR/<room>_labels.npz``
(uint8 label volume), ``DIR/<room>_pred.ply`` (the TSDF surface coloured by predicted class,
with a per-vertex label) and ``DIR/<room>_pano.png`` (the prediction seen from the room's
panorama camera, or the volume centre).
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np

from segmenter3d.apis import inference_room, init_segmentor
from segmenter3d.datasets import load_room, room_to_input
from segmenter3d.taxonomy import PANOROOMS3D_PALETTE
from segmenter3d.visualization import label_mesh, panorama_figure, write_ply, write_png


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Segment a whole room with a trained model.')
    p.add_argument('room', help='room volume (.npz, our or the release format)')
    p.add_argument('--config', required=True)
    p.add_argument('--checkpoint', required=True)
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--device', default='cpu')
    p.add_argument('--voxel-size', type=float, default=None,
                   help='metres per voxel when the file does not say (release: 0.04)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        room = load_room(args.room)
    except (ValueError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    model = init_segmentor(args.config, args.checkpoint, args.device)
    palette = (model.dataset_meta or {}).get('palette') or PANOROOMS3D_PALETTE
    volume = room_to_input(room)
    logits = inference_room(model, volume, progress=True)
    labels = logits.argmax(0).numpy().astype(np.uint8)
    name = osp.splitext(osp.basename(args.room))[0]
    os.makedirs(args.out, exist_ok=True)
    out = osp.join(args.out, name)
    np.savez_compressed(out + '_labels.tmp.npz', labels=labels)
    os.replace(out + '_labels.tmp.npz', out + '_labels.npz')
    voxel = float(room.get('voxel_size', args.voxel_size or 1.0))
    verts, faces, colors, vert_labels = label_mesh(room['tsdf'], labels, palette, voxel,
                                                   room.get('origin'))
    write_ply(out + '_pred.ply', verts, faces, colors, vert_labels)
    camera = room.get('camera')
    if camera is None:
        camera = (np.array(room['tsdf'].shape) - 1) / 2
    write_png(out + '_pano.png', panorama_figure(volume, camera, {'prediction': labels}, palette))
    counts = np.bincount(labels.ravel(), minlength=len(palette))
    print(f'\n{name}: {labels.shape} voxels -> {out}_labels.npz, {out}_pred.ply '
          f'({len(verts)} vertices), {out}_pano.png; classes present: '
          f'{int((counts > 0).sum())}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
