"""Per-frame overlays carry the key of the classes in their frame, as every other picture."""
import cv2
import numpy as np

from segmenter3d.apis.frames import label_frames, overlay
from segmenter3d.datasets.rgbd_scan import ScanFolder, write_scan
from segmenter3d.synthrooms import generate_room
from segmenter3d.synthrooms.scan import frame_intrinsics, scan_frames
from segmenter3d.taxonomy import PANOROOMS3D_CLASSES, PANOROOMS3D_PALETTE
from segmenter3d.visualization import legend


def test_frame_overlays_have_the_key_of_the_classes_in_their_frame(tmp_path):
    room = generate_room(7, voxel_size=0.1, max_extent=3.0)
    size = (120, 320)  # wide enough for two classes a legend row
    frames = scan_frames(room, 2, np.random.default_rng(0), size=size)
    scan = str(tmp_path / 'scan')
    write_scan(scan, frames, frame_intrinsics(size))
    fused = dict(tsdf=room.tsdf, voxel_size=room.voxel_size, origin=room.origin)
    for out, names in (('keyed', PANOROOMS3D_CLASSES), ('bare', None)):
        assert label_frames(fused, room.labels, scan, str(tmp_path / out), PANOROOMS3D_PALETTE,
                            progress=False, class_names=names) == dict(written=2, skipped=0)
    folder = ScanFolder(scan, with_labels=False)
    counts = []
    for i in range(2):
        pred = cv2.imread(str(tmp_path / 'keyed' / 'label' / f'{i}.png'), cv2.IMREAD_UNCHANGED)
        present = [c for c in np.unique(pred) if c != 255]
        counts.append(len(present))
        bare = cv2.imread(str(tmp_path / 'bare' / 'overlay' / f'{i}.jpg'))[..., ::-1]
        keyed = cv2.imread(str(tmp_path / 'keyed' / 'overlay' / f'{i}.jpg'))[..., ::-1]
        assert bare.shape == (*size, 3)  # without class names: the frame as before
        # the frame's overlay, then one 16-pixel legend row per two classes of the frame
        rows = -(-len(present) // 2)
        assert keyed.shape == (size[0] + 16 * rows, size[1], 3)
        rgb, _ = folder.colour(i)
        want = np.concatenate([overlay(rgb, pred, PANOROOMS3D_PALETTE),
                               legend(PANOROOMS3D_PALETTE, PANOROOMS3D_CLASSES, present,
                                      size[1])], 0).astype(np.float32)
        error = np.abs(keyed.astype(np.float32) - want)
        assert error.mean() < 4  # the same picture but for JPEG's losses
        key = keyed[size[0]:].astype(np.int32)
        for n, cls in enumerate(present):  # each swatch in the colour of its class
            y, x = (n // 2) * 16 + 8, (n % 2) * 150 + 10
            colours = np.asarray(PANOROOMS3D_PALETTE, np.int32)
            nearest = np.abs(colours - key[y, x]).sum(1).argmin()
            assert nearest == cls, (n, cls, key[y, x], PANOROOMS3D_PALETTE[cls])
    assert counts == [1, 5]  # a wall only, and a frame whose key takes three rows
