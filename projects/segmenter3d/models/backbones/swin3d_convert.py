# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Key conversion between the reference 3D Segmenter release and our modules.

The reference layout (every key and shape: ``tests/data/official_checkpoint_keys.txt``)::

    encoder.patch_embed.patch_embed.proj.*        -> backbone.patch_embed.*
    encoder.patch_embed.layers.{i}.blocks.{j}.*   -> backbone.stages.{i}.blocks.{j}.*
    encoder.patch_embed.layers.{i}.downsample.*   -> backbone.stages.{i}.downsample.*
    encoder.patch_embed.norm.*                    -> backbone.norm{last}.*
    encoder.norm.*                                -> backbone.final_norm.*
    decoder.head.*                                -> decode_head.token_cls.*
    output.*                                      -> decode_head.skip_cls.*

``relative_position_index`` buffers are fixed tables: they are checked against ours and
dropped (and regenerated when writing the reference layout).
"""
import re
from collections import OrderedDict
from typing import Dict, Mapping

import torch

from .window_layout import relative_position_index

REF_PREFIX = 'encoder.patch_embed.'
MAX_WINDOW = 16  # window side: the paper's is 8; a (16^3)^2 index table is 134 MB
_BLOCK = re.compile(r'^encoder\.patch_embed\.layers\.(\d+)\.(blocks\.\d+\..+|downsample\..+)$')
_OUR_STAGE = re.compile(r'^backbone\.stages\.(\d+)\.(blocks\.\d+\..+|downsample\..+)$')


def _rename(key: str, table: Mapping[str, str]):
    """``key`` with the first matching prefix of ``table`` replaced, or None."""
    for prefix, target in table.items():
        if key.startswith(prefix):
            return target + key[len(prefix):]
    return None


def is_reference_layout(state: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith(REF_PREFIX) for k in state)


def _num_stages(state: Mapping[str, torch.Tensor], pattern: re.Pattern) -> int:
    stages = {int(m.group(1)) for k in state for m in [pattern.match(k)] if m}
    if not stages:
        raise ValueError('checkpoint has no transformer stage keys '
                         '(expected encoder.patch_embed.layers.<i>.* or backbone.stages.<i>.*)')
    return max(stages) + 1


def reference_to_ours(state: Mapping[str, torch.Tensor],
                      source: str = 'checkpoint') -> 'OrderedDict[str, torch.Tensor]':
    """Map a reference-layout state dict to ``VolumeEncoderDecoder`` keys.

    Raises:
        ValueError: naming ``source`` and the key, for a key this layout does not have or a
            relative position index that is not Video Swin's.
    """
    last = _num_stages(state, _BLOCK) - 1
    fixed = {
        'encoder.patch_embed.patch_embed.proj.': 'backbone.patch_embed.',
        'encoder.patch_embed.norm.': f'backbone.norm{last}.',
        'encoder.norm.': 'backbone.final_norm.',
        'decoder.head.': 'decode_head.token_cls.',
        'output.': 'decode_head.skip_cls.',
    }
    out = OrderedDict()
    for key, value in state.items():
        if key.endswith('relative_position_index'):
            # the shape first: a tiny file may declare a side whose table is gigabytes
            square = (isinstance(value, torch.Tensor) and value.dim() == 2
                      and value.shape[0] == value.shape[1])
            side = int(round(value.shape[0]**(1 / 3))) if square else 0
            if not (square and 1 <= side <= MAX_WINDOW and side**3 == value.shape[0]):
                raise ValueError(f'{source}: {key} has shape '
                                 f'{tuple(getattr(value, "shape", ()))}, not (w^3, w^3) of a '
                                 f'window of w <= {MAX_WINDOW}; this converter cannot map it')
            expected = relative_position_index((side, ) * 3)
            if value.shape != expected.shape or not torch.equal(value.long().cpu(), expected):
                raise ValueError(f'{source}: {key} is not the Video Swin relative position index '
                                 f'of a {side}^3 window; this converter cannot map it')
            continue
        m = _BLOCK.match(key)
        new_key = f'backbone.stages.{m.group(1)}.{m.group(2)}' if m else _rename(key, fixed)
        if new_key is None:
            raise ValueError(f'{source}: unexpected key {key!r} for the reference 3D Segmenter '
                             f'layout')
        out[new_key] = value
    return out


def ours_to_reference(state: Mapping[str, torch.Tensor],
                      window_size: int = 8) -> 'OrderedDict[str, torch.Tensor]':
    """Inverse of :func:`reference_to_ours`; regenerates the relative position indices."""
    last = _num_stages(state, _OUR_STAGE) - 1
    fixed = {
        'backbone.patch_embed.': 'encoder.patch_embed.patch_embed.proj.',
        f'backbone.norm{last}.': 'encoder.patch_embed.norm.',
        'backbone.final_norm.': 'encoder.norm.',
        'decode_head.token_cls.': 'decoder.head.',
        'decode_head.skip_cls.': 'output.',
    }
    index = relative_position_index((window_size, ) * 3)
    out = OrderedDict()
    for key, value in state.items():
        m = _OUR_STAGE.match(key)
        if m:
            new_key = f'{REF_PREFIX}layers.{m.group(1)}.{m.group(2)}'
            out[new_key] = value
            if new_key.endswith('attn.relative_position_bias_table'):
                out[new_key.replace('bias_table', 'index')] = index.clone()
            continue
        new_key = _rename(key, fixed)
        if new_key is None:
            raise ValueError(f'{key!r} has no place in the reference 3D Segmenter layout')
        out[new_key] = value
    return out


def backbone_state_from_any(state: Mapping[str, torch.Tensor],
                            num_stages: int) -> Dict[str, torch.Tensor]:
    """Backbone-only keys (without ``backbone.``) from a reference or our checkpoint."""
    if is_reference_layout(state):
        state = reference_to_ours(state)
    if any(k.startswith('backbone.') for k in state):
        state = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    return dict(state)
