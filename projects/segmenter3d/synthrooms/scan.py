# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Scan simulation: keep only what RGB-D cameras standing in the room would observe.

Two ways: :func:`simulate_scan` empties what panoramic cameras do not see (fast, exact where
seen); :func:`fused_scan` renders pinhole RGB-D + label frames and fuses them as a scanner does
(the paper's pipeline: partial, projective distances, optional depth noise).

The paper's rooms are fused from rendered RGB-D frames, so surfaces no camera sees (behind a
wardrobe, under a bed, inside walls) are unobserved. Here panoramic cameras at 1.4-1.8 m cast
rays; a voxel is observed when it lies within the truncation distance of a surface point some
ray hit. Unobserved voxels become empty (tsdf +truncation, colour 0); their label stays void
where the voxel is free space and becomes 255 (ignore) where it is solid, since nothing in the
input says what is there.
"""
import numpy as np
import torch
from scipy import ndimage

from ..rendering import TSDFFusion, TSDFRaycaster
from .room import TRUNCATION, Room
from .views import eye_level_cameras


def observed_mask(room: Room, num_cameras: int, rng: np.random.Generator,
                  rays: tuple = (128, 256)) -> np.ndarray:
    """Boolean (X, Y, Z): voxels within the truncation band of any surface point hit."""
    tsdf = torch.from_numpy(room.tsdf)
    cameras = [room.camera] + list(eye_level_cameras(room.tsdf, room.voxel_size, room.origin,
                                                     num_cameras - 1, rng))
    caster = TSDFRaycaster(*rays)
    hit_grid = np.zeros(room.tsdf.shape, bool)
    for cam in cameras:
        cam = torch.as_tensor(np.asarray(cam, np.float32))
        hits = caster.cast(tsdf, cam)
        ids = hits.points[hits.valid].round().long().numpy()
        hit_grid[ids[:, 0], ids[:, 1], ids[:, 2]] = True
    if not hit_grid.any():
        return hit_grid
    return ndimage.distance_transform_edt(~hit_grid) <= TRUNCATION


def simulate_scan(room: Room, num_cameras: int = 4, seed: int = 0) -> Room:
    """A copy of ``room`` with what no camera observes emptied (see module docstring)."""
    rng = np.random.default_rng(seed)
    seen = observed_mask(room, num_cameras, rng)
    tsdf, rgb, labels = room.tsdf.copy(), room.rgb.copy(), room.labels.copy()
    hidden = ~seen
    solid_hidden = hidden & (tsdf < TRUNCATION)
    labels[solid_hidden] = 255
    tsdf[hidden] = TRUNCATION
    rgb[:, hidden] = 0
    meta = dict(room.meta, scan_cameras=num_cameras,
                observed_fraction=float(seen[room.tsdf < TRUNCATION].mean()))
    return Room(tsdf=tsdf, rgb=rgb, labels=labels, voxel_size=room.voxel_size,
                origin=room.origin, camera=room.camera, room_type=room.room_type, meta=meta)


# ---------------------------------------------------------------------- RGB-D scanning
FRAME_SIZE = (120, 160)  # (H, W) of simulated depth frames; fx = fy = 0.9 W (ScanNet's ~58 deg)


def frame_intrinsics(size=FRAME_SIZE) -> np.ndarray:
    """(3, 3) pinhole matrix of the simulated frames (pixel centres at integers)."""
    h, w = size
    f = 0.9 * w
    return np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])


def look_pose(eye: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    """(4, 4) camera-to-world (OpenCV axes: x right, y down, z forward) at ``eye`` looking
    along ``yaw`` (about +Z, from +X) and ``pitch`` (up positive), world Z up."""
    forward = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, forward, eye
    return pose


def scan_frames(room: Room, num_frames: int, rng: np.random.Generator,
                depth_noise: float = 0.0, size=FRAME_SIZE) -> list:
    """RGB-D + label frames of ``room`` from random poses at eye level (camera 1.4-1.8 m
    above the floor, random heading, looking 0-40 degrees down), as a depth camera records
    them: ``depth`` (H, W) z-depth metres (0: no return; Gaussian noise of ``depth_noise``
    metres), ``rgb``, ``labels``, ``pose`` (camera-to-world, world = room metres)."""
    caster = TSDFRaycaster(min_step=0.5)
    tsdf, rgb = torch.from_numpy(room.tsdf), torch.from_numpy(room.rgb)
    labels = torch.from_numpy(room.labels)
    K = frame_intrinsics(size)
    eyes = eye_level_cameras(room.tsdf, room.voxel_size, room.origin, num_frames, rng)
    frames = []
    for cam in eyes:
        eye = np.asarray(room.origin, np.float64) + room.voxel_size * cam
        pose = look_pose(eye, rng.uniform(-np.pi, np.pi), -np.deg2rad(rng.uniform(0, 40)))
        out = caster.render_pinhole(tsdf, K, pose, size, room.voxel_size, room.origin,
                                    rgb=rgb, labels=labels)
        depth = out['depth'].numpy().astype(np.float32)
        if depth_noise > 0:
            noisy = depth + rng.normal(0.0, depth_noise, depth.shape).astype(np.float32)
            depth = np.where(depth > 0, np.maximum(noisy, 1e-3), 0).astype(np.float32)
        frames.append(dict(depth=depth, rgb=out['rgb'].numpy(), labels=out['labels'].numpy(),
                           pose=pose))
    return frames


def fuse_frames(frames: list, shape, voxel_size: float, origin, num_classes: int,
                intrinsics: np.ndarray, batch_size: int = 8) -> dict:
    """Fuse frames (as from :func:`scan_frames`) into a volume of the given grid; numpy."""
    fusion = TSDFFusion(shape, voxel_size, origin, TRUNCATION, num_classes=num_classes)
    K = torch.as_tensor(intrinsics, dtype=torch.float32)
    for start in range(0, len(frames), batch_size):
        part = frames[start:start + batch_size]
        fusion.integrate(torch.from_numpy(np.stack([f['depth'] for f in part])), K,
                         torch.from_numpy(np.stack([f['pose'] for f in part])).float(),
                         rgb=torch.from_numpy(np.stack([f['rgb'] for f in part])),
                         labels=torch.from_numpy(np.stack([f['labels'] for f in part])))
    return {k: v.numpy() for k, v in fusion.result().items()}


def fused_scan(room: Room, num_frames: int, seed: int = 0, depth_noise: float = 0.0,
               size=FRAME_SIZE) -> Room:
    """``room`` as a scanner would build it: ``num_frames`` RGB-D frames fused on the room's
    own grid (:func:`scan_frames`, :class:`~segmenter3d.rendering.TSDFFusion`).

    Voxels no frame voted on keep 'void' where the room is empty space far from surfaces and
    become 255 (ignored) elsewhere, since nothing in the input says what is there. ``meta``
    records ``unobserved`` (share of voxels no frame saw), ``unobserved_surface`` (share of
    the exact surface band), ``render_seconds`` (the frames) and ``fusion_seconds``.
    """
    import time

    from .furniture import CLS
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    frames = scan_frames(room, num_frames, rng, depth_noise, size)
    render_seconds = time.perf_counter() - start
    start = time.perf_counter()
    classes = int(room.labels[room.labels != 255].max()) + 1
    fused = fuse_frames(frames, room.tsdf.shape, room.voxel_size, room.origin, classes,
                        frame_intrinsics(size))
    seconds = time.perf_counter() - start
    labels = fused['labels']
    no_vote = labels == 255
    labels[no_vote & (room.labels == CLS['void'])] = CLS['void']
    seen = fused['weight'] > 0
    band = np.abs(room.tsdf) < TRUNCATION
    meta = dict(room.meta, scan_frames=num_frames, depth_noise=depth_noise,
                unobserved=float(1 - seen.mean()),
                unobserved_surface=float(1 - seen[band].mean()) if band.any() else 0.0,
                fusion_seconds=seconds, render_seconds=render_seconds)
    return Room(tsdf=fused['tsdf'].astype(np.float32), rgb=fused['rgb'], labels=labels,
                voxel_size=room.voxel_size, origin=room.origin, camera=room.camera,
                room_type=room.room_type, meta=meta)
