# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Convert a checkpoint of the reference 3D Segmenter release into our layout.

    python tools/model_converters/reference_to_segmenter3d.py REF.pth OUT.pth \
        [--config configs/3dseg/3dseg-l_panorooms.py]

With ``--config`` the converted weights are loaded strictly into the model that config builds,
so a checkpoint of another variant or class count is refused before anything is written.
"""
import argparse
import os.path as osp
import sys

import torch


def _tensor(state: dict, key: str, ndim: int, source: str) -> torch.Tensor:
    """``state[key]``, a tensor of ``ndim`` dimensions, or a ValueError naming both."""
    value = state.get(key)
    if not isinstance(value, torch.Tensor):
        raise ValueError(f'{source}: the reference layout needs {key!r}, '
                         f'{"missing" if value is None else type(value).__name__} here')
    if value.dim() != ndim:
        raise ValueError(f'{source}: {key!r} has shape {tuple(value.shape)}, expected '
                         f'{ndim} dimensions')
    return value


def infer_arch(state: dict, source: str = 'checkpoint') -> dict:
    """Read embed_dims, depths and num_heads off reference-layout weights."""
    embed = _tensor(state, 'encoder.patch_embed.patch_embed.proj.weight', 5, source).shape[0]
    depths, heads = [], []
    stage = 0
    while f'encoder.patch_embed.layers.{stage}.blocks.0.norm1.weight' in state:
        blocks = {k.split('.')[5] for k in state
                  if k.startswith(f'encoder.patch_embed.layers.{stage}.blocks.')}
        depths.append(len(blocks))
        heads.append(_tensor(state, f'encoder.patch_embed.layers.{stage}.blocks.0.attn.'
                             'relative_position_bias_table', 2, source).shape[1])
        stage += 1
    return dict(embed_dims=embed, depths=depths, num_heads=heads)


def load_state(path: str) -> dict:
    from segmenter3d.checkpoint_io import load_checkpoint_file
    ckpt = load_checkpoint_file(path, 'cpu', 'reference checkpoint')
    state = ckpt.get('state_dict', ckpt.get('model', ckpt)) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise ValueError(f'{path}: holds no state dict')
    return state


def convert(src: str, dst: str, config: str = None) -> dict:
    from segmenter3d.checkpoint_io import weight_mismatches
    from segmenter3d.fileio import check_writable, refuse_same_file
    refuse_same_file(src, dst)
    check_writable(dst, 'output')  # before the (possibly long) load, not after it
    from segmenter3d.models.backbones.swin3d_convert import reference_to_ours
    state = load_state(src)
    if not any(k.startswith('encoder.patch_embed.') for k in state):
        raise ValueError(f'{src}: not in the reference layout (no encoder.patch_embed.* keys)')
    converted = reference_to_ours(state, source=src)
    arch = infer_arch(state, src)
    num_classes = _tensor(state, 'decoder.head.weight', 2, src).shape[0]
    if config is not None:
        from mmengine.config import Config

        from segmenter3d.apis import init_segmentor
        if not osp.isfile(config):
            raise FileNotFoundError(f'{config}: config not found')
        try:
            cfg = Config.fromfile(config)
            cfg.model  # noqa: B018  (a config without a model is named here)
        except Exception as err:  # a config is code: all of its failures are the config's
            raise ValueError(f'{config}: not a usable config ({type(err).__name__}: '
                             f'{err})') from None
        try:
            model = init_segmentor(cfg)
        except (KeyError, TypeError, AttributeError) as err:  # the registry, the fields
            raise ValueError(f'{config}: the model cannot be built ({type(err).__name__}: '
                             f'{err})') from None
        problems = weight_mismatches(model, converted)
        if problems:
            raise ValueError(f'{src} does not fit {config} (wrong variant or class count?): '
                             + '; '.join(problems))
    meta = dict(converted_from=osp.abspath(src), arch=arch,
                num_classes=int(num_classes))
    from segmenter3d.fileio import atomic_path
    with atomic_path(dst) as tmp:  # an existing dst is never left half written
        torch.save(dict(state_dict=converted, meta=meta), tmp)
    return meta


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='reference-layout checkpoint (.pth)')
    parser.add_argument('dst', help='where to write the converted checkpoint')
    parser.add_argument('--config', help='check the result against the model of this config')
    args = parser.parse_args(argv)
    try:
        meta = convert(args.src, args.dst, args.config)
    except (ValueError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'converted {args.src} -> {args.dst}: arch {meta["arch"]}, '
          f'{meta["num_classes"]} classes')
    return 0


if __name__ == '__main__':
    sys.exit(main())
