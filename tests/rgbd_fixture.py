"""An analytic room filmed by an RGB-D camera, written in ScanNet's SensReader export layout.

The room is the free box [0, 4] x [0, 3.5] x [0, 2.6] m (floor, walls, ceiling), with a cube
[1.0, 1.8] x [2.0, 2.8] x [0, 0.8] on the floor and a sphere of radius 0.45 m centred at
(2.8, 1.2, 0.9). Every ray is intersected exactly, so depth, colour and labels of each frame
are known answers, and so are the surfaces and their labels.
"""

import numpy as np

BOX = (np.array([0.0, 0.0, 0.0]), np.array([4.0, 3.5, 2.6]))
CUBE = (np.array([1.0, 2.0, 0.0]), np.array([1.8, 2.8, 0.8]))
SPHERE = (np.array([2.8, 1.2, 0.9]), 0.45)
# class ids of the label images: 0 floor, 1 wall, 2 ceiling, 3 cube, 4 sphere
FLOOR, WALL, CEILING, CUBE_ID, SPHERE_ID = range(5)
COLOURS = np.array([[180, 120, 60], [90, 200, 120], [230, 230, 230], [200, 40, 40],
                    [40, 60, 220]], np.uint8)


def intrinsics(height: int, width: int) -> np.ndarray:
    f = 0.9 * width
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])


def look_at(eye, target) -> np.ndarray:
    """Camera-to-world, OpenCV axes (x right, y down, z forward), world Z up."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, np.cross(forward, right), \
        forward, eye
    return pose


def trace(origin: np.ndarray, dirs: np.ndarray):
    """Distance along ``dirs`` (N, 3) to the first surface and its class id."""
    with np.errstate(divide='ignore', invalid='ignore'):
        lo, hi = BOX
        t_axis = np.where(dirs > 0, (hi - origin) / dirs, np.where(dirs < 0, (lo - origin) /
                                                                  dirs, np.inf))
        t = t_axis.min(1)
        axis = t_axis.argmin(1)
        label = np.where(axis < 2, WALL, np.where(dirs[:, 2] < 0, FLOOR, CEILING))
        # cube (slab method, entering from outside)
        c_lo, c_hi = CUBE
        t1, t2 = (c_lo - origin) / dirs, (c_hi - origin) / dirs
        near = np.nanmax(np.minimum(t1, t2), 1)
        far = np.nanmin(np.maximum(t1, t2), 1)
    hit = (near <= far) & (near > 0) & (near < t)
    t, label = np.where(hit, near, t), np.where(hit, CUBE_ID, label)
    centre, radius = SPHERE
    unit = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    oc = origin - centre
    b = unit @ oc
    disc = b * b - (oc @ oc - radius**2)
    ts = (-b - np.sqrt(np.maximum(disc, 0))) / np.linalg.norm(dirs, axis=1)
    hit = (disc > 0) & (ts > 0) & (ts < t)
    return np.where(hit, ts, t), np.where(hit, SPHERE_ID, label)


def render(pose: np.ndarray, K: np.ndarray, size):
    """z-depth (H, W) metres, colour (H, W, 3) and labels (H, W) of one pinhole frame."""
    h, w = size
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    dirs = cam.reshape(-1, 3) @ pose[:3, :3].T  # z = 1 in the camera: t is the z-depth
    t, label = trace(pose[:3, 3], dirs)
    label = label.reshape(h, w).astype(np.uint8)
    return t.reshape(h, w).astype(np.float32), COLOURS[label], label


def poses(num: int, seed: int = 0):
    """Eye-level cameras (1.4-1.8 m) around the room, looking at random points of it."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < num:
        eye = np.array([rng.uniform(0.5, 3.5), rng.uniform(0.5, 3.0), rng.uniform(1.4, 1.8)])
        if np.linalg.norm(eye - SPHERE[0]) < SPHERE[1] + 0.3 or (
                (eye[:2] > CUBE[0][:2] - 0.2).all() and (eye[:2] < CUBE[1][:2] + 0.2).all()):
            continue
        target = np.array([rng.uniform(0, 4), rng.uniform(0, 3.5), rng.uniform(0, 1.6)])
        if np.linalg.norm(target[:2] - eye[:2]) > 0.8:
            out.append(look_at(eye, target))
    return out


def write_analytic_scan(scan_dir: str, num_frames: int = 24, depth_size=(240, 320),
                        colour_size=(360, 480), label_size=None, seed: int = 0):
    """Write the room's frames in the scan layout (colour at another resolution than depth;
    labels at ``label_size``, the depth size by default, in ``label/``). Returns the poses."""
    from segmenter3d.datasets.rgbd_scan import write_scan
    kd, kc = intrinsics(*depth_size), intrinsics(*colour_size)
    frames = []
    for pose in poses(num_frames, seed):
        depth, _, labels = render(pose, kd, depth_size)
        _, rgb, colour_labels = render(pose, kc, colour_size)
        if label_size is not None and tuple(label_size) == tuple(colour_size):
            labels = colour_labels
        frames.append(dict(depth=depth, rgb=rgb, labels=labels, pose=pose))
    write_scan(scan_dir, frames, kd, kc)
    return [f['pose'] for f in frames]


def surface_points(step: float = 0.05):
    """Points (N, 3) on every surface of the room and their class ids (N, )."""
    pts, ids = [], []
    lo, hi = BOX

    def face(axis, value, a_lo, a_hi, label):
        other = [a for a in range(3) if a != axis]
        s, t = np.meshgrid(np.arange(a_lo[0] + step / 2, a_hi[0], step),
                           np.arange(a_lo[1] + step / 2, a_hi[1], step), indexing='ij')
        p = np.zeros((s.size, 3))
        p[:, axis], p[:, other[0]], p[:, other[1]] = value, s.ravel(), t.ravel()
        pts.append(p)
        ids.append(np.full(len(p), label))

    for axis in range(3):
        other = [a for a in range(3) if a != axis]
        span = ((lo[other[0]], lo[other[1]]), (hi[other[0]], hi[other[1]]))
        for value, label in ((lo[axis], FLOOR if axis == 2 else WALL),
                             (hi[axis], CEILING if axis == 2 else WALL)):
            face(axis, value, (span[0][0], span[0][1]), (span[1][0], span[1][1]), label)
        c_lo, c_hi = CUBE
        cspan = ((c_lo[other[0]], c_lo[other[1]]), (c_hi[other[0]], c_hi[other[1]]))
        for value in (c_lo[axis], c_hi[axis]):
            if axis == 2 and value == 0:
                continue  # the cube's bottom lies on the floor
            face(axis, value, cspan[0], cspan[1], CUBE_ID)
    centre, radius = SPHERE
    n = int(4 * np.pi * radius**2 / step**2)
    k = np.arange(n) + 0.5
    phi, theta = np.arccos(1 - 2 * k / n), np.pi * (1 + 5**0.5) * k
    unit = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)
    pts.append(centre + radius * unit)
    ids.append(np.full(n, SPHERE_ID))
    points, labels = np.concatenate(pts), np.concatenate(ids)
    # floor points under the cube are not surfaces
    under = (labels == FLOOR) & (points[:, :2] > CUBE[0][:2]).all(1) & (
        points[:, :2] < CUBE[1][:2]).all(1)
    return points[~under], labels[~under]


def seen_by(points: np.ndarray, poses, K: np.ndarray, size, tol: float = 0.01) -> np.ndarray:
    """Points some frame sees: inside its image and not behind the depth it measured."""
    seen = np.zeros(len(points), bool)
    h, w = size
    for pose in poses:
        cam = (points - pose[:3, 3]) @ pose[:3, :3]
        z = cam[:, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            u = np.round(K[0, 0] * cam[:, 0] / z + K[0, 2])
            v = np.round(K[1, 1] * cam[:, 1] / z + K[1, 2])
        ok = (z > 0.05) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        idx = np.flatnonzero(ok)
        depth, _, _ = render(pose, K, size)
        d = depth[v[idx].astype(int), u[idx].astype(int)]
        seen[idx[np.abs(d - z[idx]) < tol + 0.02 * z[idx]]] = True
    return seen
