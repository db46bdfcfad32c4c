# Copyright (c) 3D Segmenter authors. All rights reserved.
"""The main job on the embedded default data, end to end (what `make demo` runs).

1. generate procedural rooms (8 cm voxels, skipped when already there),
2. train 3DSeg-T on 32^3 blocks with the mmengine Runner
   (configs/3dseg/3dseg-t_1xb2-2500_synthrooms-32.py, 2 500 iterations: the whole job fits in
   25 minutes on 2 CPU cores),
3. test it on whole held-out rooms (slide inference) and draw the predictions,
4. train the 2D panorama teacher (mmseg's Segmenter, ViT-T) from scratch on the training
   rooms' panoramas and test it (extra views per room did not help it at this budget:
   13.78 mIoU with 8 views against 17.42 with one; see docs/results_history.md, the make demo
   of 2026-12-01),
5. fine-tune the block-trained student on whole rooms twice, without the teacher (the control)
   and with it (distillation), and write the before / control / after table with one picture
   per test room,
6. print where the numbers and pictures are.
"""
import argparse
import json
import os
import os.path as osp
import sys

# the repository (studies/ is not installed with the package)
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from studies.experiments import (  # noqa: E402
    iters_options,
    last_checkpoint,
    last_metrics,
    option_path,
    run,
    schedule_options,
)

CONFIG = 'configs/3dseg/3dseg-t_1xb2-2500_synthrooms-32.py'
ITERS = 2500  # CONFIG's schedule: another --iters stretches its decay to them
TEACHER = 'configs/teacher/segmenter_vit-t_synthrooms.py'
DISTILL = 'configs/distill/panokd_segmenter-vit-t_3dseg-t_synthrooms.py'
CONTROL = 'configs/3dseg/3dseg-t_1xb1-120_synthrooms-room.py'  # DISTILL without the teacher


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default='data/synthrooms')
    p.add_argument('--work-dir', default='work_dirs/demo')
    p.add_argument('--num-rooms', type=int, default=48)
    p.add_argument('--iters', type=int, default=ITERS,
                   help=f'block-training iterations (default: {CONFIG} as it is; others '
                   'stretch its decay to them)')
    p.add_argument('--teacher-iters', type=int, default=None)
    p.add_argument('--distill-iters', type=int, default=None)
    p.add_argument('--skip-distill', action='store_true', help='stop after step 3')
    args = p.parse_args(argv)
    # the steps run in the repository; the user's paths mean what they mean where they typed them
    args.data, args.work_dir = osp.abspath(args.data), osp.abspath(args.work_dir)
    try:
        option_path(args.data)  # it reaches the configs through --cfg-options
    except ValueError as err:
        sys.exit(f'error: {err}')
    os.makedirs(args.work_dir, exist_ok=True)
    py = sys.executable
    timings = {}
    timings['generate'] = run([
        py, 'tools/data/generate_synthrooms.py', '--out', args.data, '--num-rooms',
        str(args.num_rooms), '--voxel-size', '0.08', '--pano-size', '256', '512', '--split',
        '0.75', '0.125', '0.125', '--workers', '2', '--max-extent', '6'
    ], osp.join(args.work_dir, 'generate.log'))

    train_dir = osp.join(args.work_dir, '3dseg-t')
    options = [f'train_dataloader.dataset.data_root={args.data}',
               f'val_dataloader.dataset.data_root={args.data}',
               f'test_dataloader.dataset.data_root={args.data}']
    timings['train'] = run([py, 'tools/train.py', CONFIG, '--work-dir', train_dir,
                            '--overwrite', '--cfg-options'] + options +
                           (schedule_options(args.iters) if args.iters != ITERS else []),
                           osp.join(args.work_dir, 'train.log'))
    ckpt = last_checkpoint(train_dir)
    show_dir = osp.join(args.work_dir, 'pictures')
    test_dir = osp.join(args.work_dir, 'test')
    timings['test'] = run([py, 'tools/test.py', CONFIG, ckpt, '--work-dir', test_dir,
                           '--show-dir', show_dir, '--cfg-options'] + options,
                          osp.join(args.work_dir, 'test.log'))
    metrics = last_metrics(test_dir)
    summary = dict(metrics=metrics, seconds={k: round(v, 1) for k, v in timings.items()},
                   checkpoint=ckpt, pictures=show_dir)
    if not args.skip_distill:
        summary.update(distill(args, py, ckpt, timings))
    summary['seconds'] = {k: round(v, 1) for k, v in timings.items()}
    with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print('\n=== 3D Segmenter demo ===')
    for k in ('mIoU', 'mAcc', 'aAcc', 'surface_mIoU', 'surface_mAcc', 'surface_aAcc'):
        if k in metrics:
            print(f'  test {k:<14} {metrics[k]:6.2f}')
    print(f'  chance mIoU     {100 / 30:6.2f}  (30 classes)')
    print(f"  time: {', '.join(f'{k} {v:.0f}s' for k, v in timings.items())}")
    print(f'  numbers:  {osp.join(args.work_dir, "summary.json")} and {args.work_dir}/test.log')
    print(f'  pictures: {show_dir}/<room>_slices.png, <room>_pano.png')
    print(f'  checkpoint: {ckpt}')
    if 'report' in summary:  # the teacher's mIoU is the report's (same pixels as students)
        print(open(summary['report']).read())


def distill(args, py, student_ckpt, timings):
    """Steps 4 and 5: the panorama teacher, then the control and distillation."""
    w = args.work_dir
    teacher_dir, distill_dir = osp.join(w, 'teacher'), osp.join(w, 'distill')
    control_dir = osp.join(w, 'control')
    pano = [f'{k}_dataloader.dataset.data_root={args.data}' for k in ('train', 'val', 'test')]
    timings['teacher'] = run([py, 'tools/train.py', TEACHER, '--work-dir', teacher_dir,
                              '--overwrite', '--cfg-options'] + pano +
                             iters_options(args.teacher_iters), osp.join(w, 'teacher.log'))
    teacher_ckpt = last_checkpoint(teacher_dir)
    timings['teacher_test'] = run([py, 'tools/test.py', TEACHER, teacher_ckpt, '--work-dir',
                                   osp.join(w, 'teacher_test'), '--cfg-options'] + pano,
                                  osp.join(w, 'teacher_test.log'))
    timings['control'] = run([py, 'tools/train.py', CONTROL, '--work-dir', control_dir,
                              '--overwrite', '--cfg-options', f'load_from={student_ckpt}'] +
                             pano + iters_options(args.distill_iters),
                             osp.join(w, 'control.log'))
    timings['distill'] = run([py, 'tools/train.py', DISTILL, '--work-dir', distill_dir,
                              '--overwrite', '--cfg-options',
                              f'model.teacher_checkpoint={teacher_ckpt}',
                              f'load_from={student_ckpt}'] + pano +
                             iters_options(args.distill_iters), osp.join(w, 'distill.log'))
    distilled = last_checkpoint(distill_dir)
    report_dir = osp.join(w, 'distill_report')
    timings['report'] = run([py, 'tools/analysis/distill_report.py', CONFIG, student_ckpt,
                             distilled, '--control', last_checkpoint(control_dir),
                             '--teacher-config', TEACHER, '--teacher-checkpoint',
                             teacher_ckpt, '--data-root', args.data, '--out', report_dir],
                            osp.join(w, 'distill_report.log'))
    return dict(teacher_metrics=last_metrics(osp.join(w, 'teacher_test')),
                distilled_checkpoint=distilled, control_checkpoint=last_checkpoint(control_dir),
                report=osp.join(report_dir, 'distill_report.md'))


if __name__ == '__main__':
    main()
