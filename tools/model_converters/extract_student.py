# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Reduce a Runner checkpoint (e.g. from distillation) to a plain 3D Segmenter checkpoint.

    python tools/model_converters/extract_student.py work_dirs/distill/iter_360.pth student.pth

Keeps the student's weights (``backbone.*``, ``decode_head.*``) and the dataset meta; drops the
optimiser, schedulers and message hub. The teacher is never in a distillation checkpoint, so the
result loads strictly into the plain ``VolumeEncoderDecoder`` config of the student.
"""
import argparse
import sys

import torch

STUDENT_PREFIXES = ('backbone.', 'decode_head.')


def extract(src: str, dst: str) -> int:
    from segmenter3d.fileio import check_writable, refuse_same_file
    refuse_same_file(src, dst)
    check_writable(dst, 'output')  # before the (possibly long) load, not after it
    from segmenter3d.checkpoint_io import read_state_dict
    ckpt, state = read_state_dict(src, 'distillation checkpoint')
    student = {k: v for k, v in state.items() if k.startswith(STUDENT_PREFIXES)}
    if not student:
        raise ValueError(f'{src}: no backbone.* / decode_head.* weights to extract')
    meta = {k: v for k, v in ckpt.get('meta', {}).items() if k in ('dataset_meta', 'iter')}
    from segmenter3d.fileio import atomic_path
    with atomic_path(dst) as tmp:
        torch.save(dict(state_dict=student, meta=meta), tmp)
    return len(student)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('src')
    p.add_argument('dst')
    args = p.parse_args(argv)
    try:
        n = extract(args.src, args.dst)
    except (ValueError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'{args.dst}: {n} student tensors')
    return 0


if __name__ == '__main__':
    sys.exit(main())
