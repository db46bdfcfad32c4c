# Copyright (c) 3D Segmenter authors. All rights reserved.
"""What to run on one GPU to trust the CUDA path (minutes, not timed yet; `--quick` in seconds).

    python benchmarks/gpu_check.py                # --device cuda when CUDA is there
    python benchmarks/gpu_check.py --device cpu --quick   # the CPU subset, as the tests run it

Checks, each a row of one table and one JSON (``--json``, default
``work_dirs/gpu_check.json``):

1. forward + backward of 3DSeg-T and 3DSeg-L on 128^3 blocks, fp32 and AMP (fp16 on CUDA,
   bf16 on CPU): median step seconds and peak memory;
2. the device's logits against the CPU's for the same weights and input (fp32, max |delta|
   at most 1e-3);
3. one distillation step (3DSeg-L student, ViT-B teacher, 512 x 1024 panorama) on a room
   in the release format that is not a multiple of 128;
4. ``tools/dist_train.sh`` with one process (nccl on CUDA, gloo on CPU) for 20 iterations;
5. whole-room slide inference of a 200 x 200 x 80 room.

``--quick`` shrinks every size (3DSeg-T only, 32^3 blocks, a 64 x 128 panorama, 2 iterations,
a 48 x 40 x 24 room) so the whole check runs in the test suite. A check that fails is a row
marked FAIL and a non-zero exit; on a CPU-only torch the CUDA-only comparisons say so.
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs')
VARIANT_CONFIGS = {'t': '3dseg/3dseg-t_8xb1-80k_panorooms-128.py',
                   'l': '3dseg/3dseg-l_panorooms.py'}
DISTILL = 'distill/panokd_segmenter-vit-b_3dseg-l_panorooms.py'
TEACHER = 'teacher/segmenter_vit-b_mask_8xb1-80k_panorooms-512x1024.py'
FULL = dict(variants='tl', block=128, steps=5, pano=(512, 1024), student='l', iters=20,
            room=(200, 200, 80), release_room=(130, 110, 70))
QUICK = dict(variants='t', block=32, steps=2, pano=(64, 128), student='t', iters=2,
             room=(48, 40, 24), release_room=(40, 36, 20))


def peak_mb(device: torch.device) -> float:
    """Peak memory so far: CUDA's allocator peak, else the process's peak resident set."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_student(variant: str, device: torch.device):
    from segmenter3d.apis import student_config
    cfg = Config.fromfile(osp.join(CONFIGS, VARIANT_CONFIGS[variant]))
    return MODELS.build(student_config(cfg.model)).to(device)


def train_step(variant: str, block: int, steps: int, amp: bool, device: torch.device) -> dict:
    """Median seconds of forward + backward + Adam on one ``block``^3 block of batch 1."""
    from segmenter3d.structures import VolumeData, VolumeDataSample
    torch.manual_seed(0)
    model = build_student(variant, device).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.rand(1, 4, block, block, block, device=device) * 2 - 1
    sample = VolumeDataSample()
    sample.gt_sem_seg = VolumeData(data=torch.randint(0, 30, (1, block, block, block),
                                                      device=device))
    dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps + 1):  # the first step warms up (allocator, kernels)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            loss = sum(v for k, v in model.loss(x, [sample]).items() if 'loss' in k)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    if not torch.isfinite(loss):
        raise RuntimeError(f'3DSeg-{variant.upper()}: the loss is {loss.item()}')
    return dict(seconds=statistics.median(times[1:]), peak_mb=peak_mb(device))


def logits_agree(variant: str, block: int, device: torch.device) -> dict:
    """Max |logit difference| between ``device`` and the CPU, same weights and input."""
    torch.manual_seed(0)
    model = build_student(variant, torch.device('cpu')).eval()
    x = torch.rand(1, 4, block, block, block) * 2 - 1
    with torch.no_grad():
        cpu = model.inference(x)
        there = model.to(device).inference(x.to(device)).cpu()
    delta = (cpu - there).abs().max().item()
    if delta > 1e-3:
        raise RuntimeError(f'logits differ by {delta:.2e} (> 1e-3) between {device} and cpu')
    return dict(max_abs_delta=delta)


def distill_step(size: dict, work: str, device: torch.device) -> dict:
    """One training step of the paper's distiller on a release-format room."""
    from segmenter3d.synthrooms import fit_room, generate_room, render_panorama, save_release_room
    room = fit_room(generate_room(0, voxel_size=0.05, max_extent=6.0), size['release_room'])
    root = osp.join(work, 'release')
    save_release_room(room, osp.join(root, 'volumes', 'room.npz'))
    pano = render_panorama(room, *size['pano'])['rgb'][..., ::-1]  # BGR, as mmseg reads it
    teacher = osp.join(work, 'teacher.py')
    with open(teacher, 'w') as f:  # the ViT-B teacher at the panorama size of this check
        f.write(f"_base_ = [{osp.join(CONFIGS, TEACHER)!r}]\nmodel = dict(pretrained=None, "
                f"data_preprocessor=dict(size={tuple(size['pano'])}))\n")
    cfg = Config.fromfile(osp.join(CONFIGS, DISTILL))
    cfg.model.update(teacher_config=teacher,
                     raycaster=dict(type='TSDFRaycaster', height=size['pano'][0],
                                    width=size['pano'][1]))
    if size['student'] != 'l':
        student = Config.fromfile(osp.join(CONFIGS, VARIANT_CONFIGS[size['student']])).model
        cfg.model.update(backbone=student.backbone, decode_head=student.decode_head)
    model = MODELS.build(cfg.model).to(device).train()
    pipeline = [dict(type='LoadVolume'), dict(type='PadVolume', size_divisor=128),
                dict(type='PackVolumeInputs')]
    from segmenter3d.datasets import VolumeDataset
    with open(osp.join(root, 'split.txt'), 'w') as f:
        f.write('room\n')
    item = VolumeDataset(ann_file='split.txt', data_root=root,
                         data_prefix=dict(volume_path='volumes'), pipeline=pipeline)[0]
    sample = item['data_samples'].to(device)
    sample.panorama = torch.from_numpy(np.ascontiguousarray(pano.transpose(2, 0, 1))).to(device)
    batch = model.data_preprocessor(dict(inputs=[item['inputs']], data_samples=[sample]), True)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-4)
    start = time.perf_counter()
    losses = model.loss(batch['inputs'], batch['data_samples'])
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    opt.step()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    camera = np.asarray(sample.metainfo['camera'])
    if not ((camera >= 0) & (camera < np.array(size['release_room']))).all():
        raise RuntimeError(f'the distillation camera {camera} lies outside the room')
    return dict(seconds=time.perf_counter() - start, loss_dist=losses['loss_dist'].item(),
                padded_shape=list(batch['inputs'].shape[2:]), peak_mb=peak_mb(device))


def dist_train(size: dict, work: str, device: torch.device) -> dict:
    """``tools/dist_train.sh`` with one process on generated rooms."""
    from segmenter3d.synthrooms import generate_dataset
    rooms = osp.join(work, 'rooms')
    generate_dataset(rooms, 4, seed=3, voxel_size=0.2, pano_size=(16, 32), split_ratios=(2, 1, 1))
    iters = size['iters']
    options = [f'{k}_dataloader.dataset.data_root={rooms}' for k in ('train', 'val', 'test')]
    options += [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
                f'default_hooks.checkpoint.interval={iters}', 'train_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
                'val_dataloader.persistent_workers=False']
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(29500 + os.getpid() % 1000))
    if device.type != 'cuda':
        env['CUDA_VISIBLE_DEVICES'] = ''  # the launcher then trains over gloo
    start = time.perf_counter()
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'),
                           osp.join(CONFIGS, '3dseg', '3dseg-t_synthrooms.py'), '1',
                           '--work-dir', osp.join(work, 'dist')] + ['--cfg-options'] + options,
                          cwd=work, capture_output=True, text=True, env=env)
    log = proc.stdout + proc.stderr
    if proc.returncode or not osp.isfile(osp.join(work, 'dist', f'iter_{iters}.pth')):
        raise RuntimeError('dist_train.sh failed:\n' + log[-2000:])
    backend = 'nccl' if "backend='nccl'" in log else 'gloo' if "backend='gloo'" in log else '?'
    return dict(seconds=time.perf_counter() - start, iters=iters, backend=backend)


def slide_inference(shape, device: torch.device) -> dict:
    """Labels of a whole generated room of ``shape`` by the shipped 3DSeg-T slide windows."""
    from segmenter3d.apis import predict_room
    from segmenter3d.datasets import room_to_input
    from segmenter3d.synthrooms import fit_room, generate_room
    room = fit_room(generate_room(1, voxel_size=0.04), shape)
    data = dict(tsdf=room.tsdf, rgb=room.rgb, labels=room.labels, observed=room.tsdf < 3)
    model = build_student('t', device).eval()
    start = time.perf_counter()
    labels = predict_room(model, room_to_input(data))
    if labels.shape != tuple(shape):
        raise RuntimeError(f'slide inference gave {labels.shape}, the room is {shape}')
    return dict(seconds=time.perf_counter() - start, voxels=int(np.prod(shape)),
                peak_mb=peak_mb(device))


def run_checks(device: torch.device, size: dict, work: str) -> list:
    """Every check as (name, result dict or None, error text or None)."""
    checks = []
    for v in size['variants']:
        for amp in (False, True):
            tag = 'amp' if amp else 'fp32'
            checks.append((f'3DSeg-{v.upper()} train step {size["block"]}^3 {tag}',
                           lambda v=v, amp=amp: train_step(v, size['block'], size['steps'],
                                                           amp, device)))
    if device.type == 'cuda':
        checks.append(('logits cuda vs cpu (fp32)',
                       lambda: logits_agree(size['student'], size['block'], device)))
    checks += [
        (f'distillation step, {size["pano"][0]}x{size["pano"][1]} panorama',
         lambda: distill_step(size, work, device)),
        (f'dist_train.sh, 1 process, {size["iters"]} iterations',
         lambda: dist_train(size, work, device)),
        ('slide inference {}x{}x{}'.format(*size['room']),
         lambda: slide_inference(size['room'], device)),
    ]
    results = []
    for name, fn in checks:
        print(f'... {name}', flush=True)
        try:
            results.append((name, fn(), None))
        except Exception as err:  # a failed check is a row, the others still run
            results.append((name, None, f'{type(err).__name__}: {err}'))
    return results


def table(results) -> str:
    lines = ['| check | status | seconds | peak MB | detail |', '|---|---|---|---|---|']
    for name, res, err in results:
        if err:
            lines.append(f'| {name} | FAIL | | | {err.splitlines()[0][:120]} |')
            continue
        extra = {k: v for k, v in res.items() if k not in ('seconds', 'peak_mb')}
        secs = f"{res['seconds']:.3f}" if 'seconds' in res else ''
        mem = f"{res['peak_mb']:.0f}" if 'peak_mb' in res else ''
        lines.append(f'| {name} | ok | {secs} | {mem} | {extra or ""} |')
    return '\n'.join(lines)


def check_json_path(path: str) -> None:
    """The report's file can be written: its folder exists (or is made) and is writable."""
    folder = osp.dirname(osp.abspath(path))
    if osp.isdir(path):
        raise ValueError(f'--json {path}: is a folder; give a file name')
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise ValueError(f'--json {path}: cannot make its folder ({err.strerror})') from None
    if not os.access(folder, os.W_OK):
        raise ValueError(f'--json {path}: its folder {folder} is not writable')


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--quick', action='store_true', help='small sizes: the CPU test suite runs it')
    p.add_argument('--json', default=osp.join('work_dirs', 'gpu_check.json'))
    args = p.parse_args(argv)
    try:  # bad input is found before minutes of checks, not after them
        try:
            device = torch.device(args.device)
        except RuntimeError:
            raise ValueError(f'--device {args.device}: not a torch device (cpu, cuda, '
                             'cuda:1, …)') from None
        check_json_path(args.json)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    if device.type == 'cuda' and not torch.cuda.is_available():
        print(f'error: --device {args.device}: this torch ({torch.__version__}) has no CUDA; '
              'run --device cpu for the CPU subset', file=sys.stderr)
        return 1
    if not torch.cuda.is_available():
        print(f'torch {torch.__version__} is a CPU-only build: running the CPU subset (no '
              'CUDA-vs-CPU comparison, gloo instead of nccl)', flush=True)
    import segmenter3d  # noqa: F401  (registers our parts)
    init_default_scope('mmseg')
    size = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory() as work:
        results = run_checks(device, size, work)
    report = dict(device=str(device), torch=torch.__version__, quick=args.quick,
                  cuda=torch.cuda.is_available(),
                  gpu=torch.cuda.get_device_name(device) if device.type == 'cuda' else None,
                  checks={n: (r if e is None else dict(error=e)) for n, r, e in results})
    from segmenter3d.fileio import write_text_atomic
    write_text_atomic(args.json, json.dumps(report, indent=2))
    print(json.dumps(report))
    print(table(results))
    print(f'written: {args.json}')
    return 1 if any(e for _, _, e in results) else 0


if __name__ == '__main__':
    sys.exit(main())
