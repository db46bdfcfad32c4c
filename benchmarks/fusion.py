# Copyright (c) 3D Segmenter authors. All rights reserved.
"""TSDF fusion speed and memory: 300 RGB-D frames of 640x480 into a 6 x 6 x 3 m room at 4 cm,
with our :class:`~segmenter3d.rendering.TSDFFusion` and, when ``open3d`` imports, Open3D's
``UniformTSDFVolume`` on the same frames (time ratio and agreement of the two TSDFs).

    OMP_NUM_THREADS=1 python benchmarks/fusion.py [--quick] [--repeats 3] [--no-record]

The frames are rendered analytically (a box room with four boxes on the floor, cameras at
1.4-1.8 m) once, into raw files the runs read frame by frame outside the timed calls. Each
backend runs in its own process, so its peak memory (``ru_maxrss``) is its own; the
backends take turns ``--repeats`` times (so a change of machine load hits all of them) and
the table gives medians of the wall-clock and of the CPU time of the timed calls (the CPU
time is the steadier number on a shared machine). ``UniformTSDFVolume`` is a cube, so ours
is also timed on the same cube of voxels (the like-for-like ratio) besides the room's own
grid. Both run with ``OMP_NUM_THREADS`` threads (torch is pinned with ``set_num_threads``,
Open3D's OpenMP loops follow the variable); each run reports its process's thread count and
CPU / wall ratio. ``--quick``: 20 frames of 160x120 into a 3 x 3 x 2 m room. Records a table
in its section of RESULTS.md.
"""
import argparse
import json
import os
import os.path as osp
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
from measure import record, rss_mb  # noqa: E402

FULL = dict(frames=300, size=(480, 640), room=(6.0, 6.0, 3.0), voxel=0.04)
QUICK = dict(frames=20, size=(120, 160), room=(3.0, 3.0, 2.0), voxel=0.04)


def boxes(room):
    """Four boxes on the floor of the room (lo, hi corners), placed by the room's size."""
    w, d, _ = room
    rel = [((0.1, 0.1, 0.0), (0.3, 0.25, 0.45)), ((0.6, 0.15, 0.0), (0.85, 0.3, 0.8)),
           ((0.2, 0.65, 0.0), (0.35, 0.9, 1.9)), ((0.55, 0.55, 0.0), (0.75, 0.7, 0.75))]
    return [(np.array(lo) * (w, d, 1), np.array(hi) * (w, d, 1)) for lo, hi in rel]


def intrinsics(size):
    h, w = size
    f = 577.87 * w / 640  # ScanNet's depth camera
    return np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])


def pose_of(index, room):
    """Camera ``index``: eye level, walking a loop around the room, looking across it."""
    rng = np.random.default_rng(index)
    w, d, _ = room
    a = 2 * np.pi * index / 37
    eye = np.array([w / 2 + 0.3 * w * np.cos(a), d / 2 + 0.3 * d * np.sin(a),
                    rng.uniform(1.4, 1.8)])
    target = np.array([rng.uniform(0, w), rng.uniform(0, d), rng.uniform(0, 1.2)])
    fwd = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(fwd, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, np.cross(fwd, right), fwd, eye
    return pose


def render(index, cfg):
    """Depth (H, W) uint16 mm, colour (H, W, 3) uint8, labels (H, W) uint8 and the pose."""
    room, size = cfg['room'], cfg['size']
    pose, K = pose_of(index, room), intrinsics(size)
    h, w = size
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    dirs = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)],
                    -1).reshape(-1, 3) @ pose[:3, :3].T
    eye = pose[:3, 3]
    with np.errstate(divide='ignore', invalid='ignore'):
        t_axis = np.where(dirs > 0, (np.array(room) - eye) / dirs,
                          np.where(dirs < 0, -eye / dirs, np.inf))
        t, label = t_axis.min(1), np.where(t_axis.argmin(1) < 2, 1, 0)
        for k, (lo, hi) in enumerate(boxes(room)):
            t1, t2 = (lo - eye) / dirs, (hi - eye) / dirs
            near = np.nanmax(np.minimum(t1, t2), 1)
            far = np.nanmin(np.maximum(t1, t2), 1)
            hit = (near <= far) & (near > 0) & (near < t)
            t, label = np.where(hit, near, t), np.where(hit, 2 + k, label)
    label = label.reshape(h, w).astype(np.uint8)
    palette = np.array([[180, 120, 60], [90, 200, 120], [200, 40, 40], [40, 60, 220],
                        [220, 200, 40], [120, 40, 160]], np.uint8)
    depth = np.round(t.reshape(h, w) * 1000).astype(np.uint16)
    return depth, palette[label], label, pose


FIELDS = (('depth', np.uint16, ()), ('rgb', np.uint8, (3, )), ('labels', np.uint8, ()),
          ('pose', np.float64, None))


def write_frames(cfg, folder):
    """Render the frames once into one raw file per field (read back by :func:`frames`)."""
    files = {name: open(osp.join(folder, name + '.raw'), 'wb') for name, _, _ in FIELDS}
    for i in range(cfg['frames']):
        for (name, dtype, _), value in zip(FIELDS, render(i, cfg)):
            files[name].write(np.ascontiguousarray(value, dtype).tobytes())
    for f in files.values():
        f.close()


def frames(cfg, folder):
    """Yield (depth, rgb, labels, pose) frame by frame from :func:`write_frames` files
    (plain reads, not a memory map: the pages would count in the process's memory)."""
    h, w = cfg['size']
    files = {name: open(osp.join(folder, name + '.raw'), 'rb') for name, _, _ in FIELDS}
    try:
        for _ in range(cfg['frames']):
            out = []
            for name, dtype, extra in FIELDS:
                shape = (4, 4) if extra is None else (h, w, *extra)
                out.append(np.fromfile(files[name], dtype, int(np.prod(shape))).reshape(shape))
            yield tuple(out)
    finally:
        for f in files.values():
            f.close()


def run_ours(cfg, cube, labels, folder):
    import torch

    from segmenter3d.rendering import TSDFFusion
    vs = cfg['voxel']
    margin = 4 * vs
    if cube:
        side = int(np.ceil((max(cfg['room']) + 2 * margin) / vs))
        shape = (side, side, side)
    else:
        shape = tuple(int(np.ceil((r + 2 * margin) / vs)) for r in cfg['room'])
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', torch.get_num_threads())))
    fusion = TSDFFusion(shape, vs, np.full(3, -margin + vs / 2), num_classes=6 if labels else 0)
    K = torch.from_numpy(intrinsics(cfg['size'])).float()
    seconds, cpu, batch = 0.0, 0.0, []
    for i, frame in enumerate(frames(cfg, folder)):
        batch.append(frame)
        if len(batch) == 8 or i == cfg['frames'] - 1:
            depth = torch.from_numpy(np.stack([b[0] for b in batch]).astype(np.float32) / 1000)
            rgb = torch.from_numpy(np.stack([b[1] for b in batch]))
            lab = torch.from_numpy(np.stack([b[2] for b in batch])) if labels else None
            poses = torch.from_numpy(np.stack([b[3] for b in batch])).float()
            start, start_cpu = time.perf_counter(), time.process_time()
            fusion.integrate(depth, K, poses, rgb=rgb, labels=lab)
            seconds += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
            batch = []
    start, start_cpu = time.perf_counter(), time.process_time()
    result = fusion.result()
    seconds += time.perf_counter() - start
    cpu += time.process_time() - start_cpu
    return seconds, cpu, shape, result['tsdf'].numpy(), result['weight'].numpy()


def run_open3d(cfg, folder):
    import open3d as o3d
    vs = cfg['voxel']
    margin = 4 * vs
    side = int(np.ceil((max(cfg['room']) + 2 * margin) / vs))
    volume = o3d.pipelines.integration.UniformTSDFVolume(
        length=side * vs, resolution=side, sdf_trunc=3 * vs,
        color_type=o3d.pipelines.integration.TSDFVolumeColorType.RGB8,
        origin=np.full(3, -margin).reshape(3, 1))
    h, w = cfg['size']
    K = intrinsics(cfg['size'])
    intr = o3d.camera.PinholeCameraIntrinsic(w, h, K[0, 0], K[1, 1], K[0, 2], K[1, 2])
    seconds = cpu = 0.0
    for depth, rgb, _, pose in frames(cfg, folder):
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray(rgb)), o3d.geometry.Image(depth),
            depth_scale=1000.0, depth_trunc=20.0, convert_rgb_to_intensity=False)
        start, start_cpu = time.perf_counter(), time.process_time()
        volume.integrate(rgbd, intr, np.linalg.inv(pose))
        seconds += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
    tsdf_weight = np.asarray(volume.extract_volume_tsdf())  # (side^3, 2): x-major
    tsdf = tsdf_weight[:, 0].reshape(side, side, side) * 3  # normalised -> voxel units
    weight = tsdf_weight[:, 1].reshape(side, side, side)
    return seconds, cpu, (side, ) * 3, tsdf, weight


def child(args):
    cfg = QUICK if args.quick else FULL
    if args.child == 'open3d':
        import open3d  # noqa: F401
    else:
        import segmenter3d.rendering  # noqa: F401
    base = rss_mb()  # the libraries alone
    if args.child == 'open3d':
        seconds, cpu, shape, tsdf, weight = run_open3d(cfg, args.frames)
    else:
        seconds, cpu, shape, tsdf, weight = run_ours(cfg, args.child.endswith('cube'),
                                                     args.child.startswith('labels'),
                                                     args.frames)
    threads = len(os.listdir('/proc/self/task'))
    if args.save:
        np.savez(args.save, tsdf=tsdf.astype(np.float32), weight=weight.astype(np.float32))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(dict(seconds=seconds, cpu=cpu, shape=list(shape), peak_mb=peak,
                          base_mb=base, threads=threads)))


def spawn(name, quick, folder, save=None, projects=None):
    """Run one backend in a fresh process; ``projects``: import segmenter3d from there."""
    cmd = [sys.executable, osp.abspath(__file__), '--child', name, '--frames', folder] + \
        (['--quick'] if quick else [])
    env = dict(os.environ)
    if projects:
        env['PYTHONPATH'] = os.pathsep.join([projects] + env.get('PYTHONPATH', '').split(
            os.pathsep))
    if save:
        cmd += ['--save', save]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f'{name}: {out.stderr.strip().splitlines()[-1:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def agreement(ours_path, o3d_path):
    """Median and 99th percentile of |ours - Open3D| (voxels) where both observed a voxel
    within the truncation band, and the share of voxels whose observed status agrees."""
    a, b = np.load(ours_path), np.load(o3d_path)
    seen_a, seen_b = a['weight'] > 0, b['weight'] > 0
    both = seen_a & seen_b & (np.abs(a['tsdf']) < 3) & (np.abs(b['tsdf']) < 3)
    diff = np.abs(a['tsdf'] - b['tsdf'])[both]
    return float(np.median(diff)), float(np.quantile(diff, 0.99)), float((seen_a == seen_b)
                                                                         .mean())


def median(runs, key):
    return float(np.median([r[key] for r in runs]))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='20 frames of 160x120, 3 x 3 x 2 m')
    p.add_argument('--repeats', type=int, default=3, help='runs of each backend, in turns')
    p.add_argument('--no-record', action='store_true', help='print, do not record in RESULTS.md')
    p.add_argument('--compare-with', metavar='CHECKOUT',
                   help='also time the cube run with segmenter3d from another checkout')
    p.add_argument('--child', help=argparse.SUPPRESS)
    p.add_argument('--frames', help=argparse.SUPPRESS)
    p.add_argument('--save', help=argparse.SUPPRESS)
    return p.parse_args(argv)


def open3d_available():
    """Whether open3d imports here (it is optional: without it, ours runs alone)."""
    try:
        import open3d  # noqa: F401
        return True
    except Exception as err:  # ImportError, or OSError without libusb-1.0
        print(f'open3d not available ({type(err).__name__}: {err}); ours only')
        return False


def plan_runs(args, have_o3d):
    """The (name, description) runs in the order they take turns, and the ``projects``
    folder of the checkout to compare with (None without ``--compare-with``)."""
    runs = [('ours', 'room grid, depth + colour'), ('labels', 'room grid, + 6-class labels'),
            ('ours-cube', 'Open3D\'s cube, depth + colour')]
    other = None
    if args.compare_with:
        other = osp.join(osp.abspath(args.compare_with), 'projects')
        runs.append(('other-cube', f'Open3D\'s cube, depth + colour; {args.compare_with}'))
    if have_o3d:
        runs.append(('open3d', 'Open3D UniformTSDFVolume (cube, depth + colour)'))
    return runs, other


def run_in_turns(args, runs, folder, other):
    """Every run ``--repeats`` times, the backends in turns (a change of load hits every
    one); the first cube runs of ours and Open3D save their volumes in ``folder``. Returns
    the runs' results by name and the 1-minute load average before and after each round."""
    load = [os.getloadavg()[0]]
    results = {name: [] for name, _ in runs}
    for repeat in range(args.repeats):
        for name, _ in runs:
            save = osp.join(folder, f'{name}.npz') if name in ('ours-cube', 'open3d') and \
                repeat == 0 else None
            results[name].append(spawn(name.replace('other', 'ours'), args.quick, folder, save,
                                       other if name == 'other-cube' else None))
            print(name, results[name][-1], flush=True)
        load.append(os.getloadavg()[0])
    return results, load


def comparison(args, results, folder, other):
    """The sentence comparing ours with Open3D on the same cube: time ratios and agreement."""
    med, p99, same = agreement(osp.join(folder, 'ours-cube.npz'),
                               osp.join(folder, 'open3d.npz'))
    wall = median(results['ours-cube'], 'seconds') / median(results['open3d'], 'seconds')
    cpu = median(results['ours-cube'], 'cpu') / median(results['open3d'], 'cpu')
    agree = (f'\nOurs / Open3D on the same cube and frames: **{wall:.2f}x** wall-clock, '
             f'**{cpu:.2f}x** CPU time (medians)')
    if other:
        o3d, was = results['open3d'], results['other-cube']
        agree += (f'; {args.compare_with} / Open3D: '
                  f'{median(was, "seconds") / median(o3d, "seconds"):.2f}x wall-clock, '
                  f'{median(was, "cpu") / median(o3d, "cpu"):.2f}x CPU time')
    agree += ('. Agreement where both observed the '
              f'truncation band: median |diff| {med:.3f} voxel, 99th percentile {p99:.3f}; '
              f'observed status equal on {same:.2%} of voxels (Open3D measures distance '
              'along the ray, we along the optical axis as KinectFusion does; both agree at '
              'the surface).\n')
    return agree


def table(args, cfg, runs, results, load):
    """The RESULTS.md section: the setting, then one row per run."""
    threads = os.environ.get('OMP_NUM_THREADS', 'unset')
    h, w = cfg['size']
    quick = ' --quick' if args.quick else ''
    text = (f'\n## fusion.py{quick}: TSDF fusion of RGB-D frames against Open3D\n\n'
            f'{time.strftime("%Y-%m-%d")}. Command: `OMP_NUM_THREADS={threads} python '
            f'benchmarks/fusion.py{quick} --repeats {args.repeats}`\n\n{cfg["frames"]} '
            f'frames of {w}x{h} into a {" x ".join(f"{r:g}" for r in cfg["room"])} m room at '
            f'{cfg["voxel"] * 100:g} cm; OMP_NUM_THREADS={threads} on a shared 2-core machine '
            f'(1-minute load average {min(load):.1f} to {max(load):.1f} during the runs; frame '
            'rendering not timed). The backends ran in turns, each in its own process; '
            'seconds are medians of the wall-clock and of the CPU time of the timed calls '
            '(fusion plus reading the volume out), with every run\'s wall-clock in brackets. '
            '"threads" is the process\'s thread count after fusing. Peak memory is the '
            'process\'s peak resident set; "own" subtracts what the process held after '
            'importing its library (ours imports segmenter3d, hence mmseg and mmcv).\n\n'
            '| backend | voxels | wall s (runs) | CPU s | frames/s (CPU) | threads | peak MB | '
            'own MB |\n|---|---|---|---|---|---|---|---|\n')
    for name, what in runs:
        res = results[name]
        label = what if name == 'open3d' else f'TSDFFusion ({what})'
        walls = ', '.join(f'{r["seconds"]:.2f}' for r in res)
        text += (f'| {label} | {"x".join(map(str, res[0]["shape"]))} | '
                 f'{median(res, "seconds"):.2f} ({walls}) | {median(res, "cpu"):.2f} | '
                 f'{cfg["frames"] / median(res, "cpu"):.1f} | {res[0]["threads"]} | '
                 f'{median(res, "peak_mb"):.0f} | '
                 f'{median(res, "peak_mb") - median(res, "base_mb"):.0f} |\n')
    return text


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child(args)
    cfg = QUICK if args.quick else FULL
    have_o3d = open3d_available()
    tmp = tempfile.mkdtemp()
    write_frames(cfg, tmp)
    runs, other = plan_runs(args, have_o3d)
    results, load = run_in_turns(args, runs, tmp, other)
    agree = comparison(args, results, tmp, other) if have_o3d else ''
    shutil.rmtree(tmp)
    text = table(args, cfg, runs, results, load) + agree
    if args.no_record:
        print(text)
    else:
        record(text)


if __name__ == '__main__':
    main()
