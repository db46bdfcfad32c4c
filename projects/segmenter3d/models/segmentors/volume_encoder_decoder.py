# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Encoder-decoder segmentor for dense voxel volumes."""
import itertools
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.structures import BaseDataElement
from mmengine.utils import ProgressBar
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from torch import Tensor

from ...encoding import EMPTY_INPUT, pad_input
from ...structures import VolumeData, VolumeDataSample
from ...utils import to_triple

#: keys ``test_cfg`` may hold
TEST_CFG_KEYS = ('mode', 'crop_size', 'stride', 'progress')
#: keys ``train_cfg`` may hold
TRAIN_CFG_KEYS = ('mode', 'crop_size')


def slide_windows(size: Sequence[int], crop: Sequence[int],
                  stride: Sequence[int]) -> List[Tuple[slice, slice, slice]]:
    """Overlapping windows covering a volume; the last window on each axis ends at its end."""
    per_axis = []
    for length, c, s in zip(size, crop, stride):
        count = max(length - c + s - 1, 0) // s + 1
        starts = sorted({max(min(i * s, length - c), 0) for i in range(count)})
        per_axis.append([slice(a, min(a + c, length)) for a in starts])
    return list(itertools.product(*per_axis))


@MODELS.register_module()
class VolumeEncoderDecoder(BaseSegmentor):
    """Backbone + decode head on (B, C, D, H, W) volumes; the head also sees the raw input.

    Args:
        backbone (dict): Backbone config, e.g. ``SwinTransformer3D``.
        decode_head (dict): Head config, e.g. ``LinearSkipHead``.
        train_cfg (dict, optional): How the training losses see a whole volume:
            ``mode='whole'`` (default: one forward) or ``mode='tiles'`` with ``crop_size``:
            non-overlapping tiles of that size (the last one on an axis shifted to end at the
            volume's end, overlaps averaged) run as one batch. A model trained on blocks and
            tested by sliding windows of the block size attends over that much context only;
            tiles fine-tune it on whole rooms in the same context (a whole-room forward lets
            its deep stages attend across the room, which it never saw in training).
        test_cfg (dict, optional): ``mode='whole'`` (default) or ``mode='slide'`` with
            ``crop_size`` and ``stride`` (ints or triples, in voxels); slide averages the logits
            of overlapping windows (``progress=True`` shows a progress bar).
        data_preprocessor (dict, optional): Defaults to ``VolumeDataPreprocessor``.
        pad_to_divisor (bool): Zero-pad the input to the backbone's ``size_divisor`` before the
            backbone and crop the logits after, as the reference release does. Defaults to True.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 pad_to_divisor: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='VolumeDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.decode_head = MODELS.build(decode_head)
        self.num_classes = self.decode_head.num_classes
        self.out_channels = self.decode_head.out_channels
        self.train_cfg = dict(mode='whole') if train_cfg is None else dict(train_cfg)
        self.test_cfg = dict(mode='whole') if test_cfg is None else dict(test_cfg)
        self.pad_to_divisor = pad_to_divisor
        self._check_config()

    def _check_config(self) -> None:
        """Fail at build time, naming the field, when the parts do not fit together."""
        stage_channels = getattr(self.backbone, 'stage_channels', None)
        out_indices = getattr(self.backbone, 'out_indices', None)
        index = self.decode_head.in_index
        if stage_channels is not None and out_indices is not None and isinstance(index, int):
            try:
                feat_channels = stage_channels[out_indices[index]]
            except IndexError:
                raise ValueError(f'decode_head.in_index={index} does not exist: the backbone '
                                 f'returns {len(out_indices)} feature maps') from None
            if feat_channels != self.decode_head.in_channels:
                raise ValueError(f'decode_head.in_channels={self.decode_head.in_channels} does '
                                 f'not match the backbone feature it reads ({feat_channels} '
                                 f'channels; backbone.embed_dims * 2**stage)')
        in_ch = getattr(self.backbone, 'in_channels', None)
        vol_ch = getattr(self.decode_head, 'volume_channels', None)
        if in_ch is not None and vol_ch is not None and in_ch != vol_ch:
            raise ValueError(f'backbone.in_channels={in_ch} and decode_head.volume_channels='
                             f'{vol_ch} must both equal the data channel count')
        data_ch = getattr(self.data_preprocessor, 'num_channels', None)
        if in_ch is not None and data_ch is not None and in_ch != data_ch:
            raise ValueError(f'backbone.in_channels={in_ch} but the data has {data_ch} channels '
                             f'(data_preprocessor.pad_values has one entry per channel)')
        unknown = sorted(set(self.train_cfg) - set(TRAIN_CFG_KEYS))
        if unknown:
            raise ValueError(f'train_cfg has unknown keys {unknown}; it takes '
                             f'{list(TRAIN_CFG_KEYS)}')
        if self.train_cfg.get('mode', 'whole') not in ('whole', 'tiles'):
            raise ValueError(f"train_cfg.mode must be 'whole' or 'tiles', got "
                             f"{self.train_cfg['mode']!r}")
        if self.train_cfg.get('mode') == 'tiles':
            if 'crop_size' not in self.train_cfg:
                raise ValueError("train_cfg.mode='tiles' needs train_cfg.crop_size")
            to_triple(self.train_cfg['crop_size'], 'train_cfg.crop_size')
        unknown = sorted(set(self.test_cfg) - set(TEST_CFG_KEYS))
        if unknown:
            raise ValueError(f'test_cfg has unknown keys {unknown}; it takes {list(TEST_CFG_KEYS)}')
        mode = self.test_cfg.get('mode', 'whole')
        if mode not in ('whole', 'slide'):
            raise ValueError(f"test_cfg.mode must be 'whole' or 'slide', got {mode!r}")
        if mode == 'slide':
            for key in ('crop_size', 'stride'):
                if key not in self.test_cfg:
                    raise ValueError(f"test_cfg.mode='slide' needs test_cfg.{key}")
                to_triple(self.test_cfg[key], f'test_cfg.{key}')
            crop = to_triple(self.test_cfg['crop_size'], 'test_cfg.crop_size')
            stride = to_triple(self.test_cfg['stride'], 'test_cfg.stride')
            if any(s > c for s, c in zip(stride, crop)):
                raise ValueError(f'test_cfg.stride {stride} must not exceed test_cfg.crop_size '
                                 f'{crop}: windows would leave voxels between them unseen')

    # ------------------------------------------------------------------ core
    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        return self.backbone(inputs)

    def _pad(self, inputs: Tensor) -> Tensor:
        """The backbone's own padding (the head then sees the volume the backbone saw)."""
        pad = getattr(self.backbone, 'pad_to_divisor', None)
        return pad(inputs) if self.pad_to_divisor and pad is not None else inputs

    def encode_decode(self, inputs: Tensor, batch_img_metas: Optional[List[dict]] = None) -> Tensor:
        """(B, C, D, H, W) -> logits (B, K, D, H, W)."""
        D, H, W = inputs.shape[2:]
        padded = self._pad(inputs)
        # the head's contract: backbone outputs, then the raw volume for its skip
        logits = self.decode_head(tuple(self.extract_feat(padded)) + (padded, ))
        return logits[:, :, :D, :H, :W]

    def train_logits(self, inputs: Tensor) -> Tensor:
        """(B, C, D, H, W) -> logits (B, K, D, H, W) as the training losses see them
        (``train_cfg``: the whole volume at once, or tiles of ``crop_size`` in one batch)."""
        if self.train_cfg.get('mode', 'whole') == 'whole':
            return self.encode_decode(inputs)
        crop = to_triple(self.train_cfg['crop_size'], 'train_cfg.crop_size')
        windows = slide_windows(inputs.shape[2:], crop, crop)
        # every tile has the same shape (min(crop, size) per axis): one batch
        tiles = self.encode_decode(torch.cat([inputs[(..., *w)] for w in windows]))
        B = inputs.shape[0]
        out = tiles.new_zeros(B, tiles.shape[1], *inputs.shape[2:])
        count = tiles.new_zeros(1, 1, *inputs.shape[2:])
        for i, w in enumerate(windows):
            out[(..., *w)] += tiles[i * B:(i + 1) * B]
            count[(..., *w)] += 1
        return out / count

    def loss(self, inputs: Tensor, data_samples: List[VolumeDataSample]) -> dict:
        logits = self.train_logits(inputs)
        losses = self.decode_head.loss_by_feat(logits, data_samples)
        return {f'decode.{k}': v for k, v in losses.items()}

    def _forward(self, inputs: Tensor, data_samples: Optional[list] = None) -> Tensor:
        return self.encode_decode(inputs)

    # ------------------------------------------------------------------ inference
    def _slide(self, inputs: Tensor, labels_only: bool,
               progress: Optional[bool] = None) -> Tensor:
        """Slide ``crop_size`` windows over the volume and average overlapping logits.

        A room smaller than the window along some axis is first padded with empty space
        (the data preprocessor's ``pad_values``), so every window the network sees has the
        training crop's size and so the window layout it was trained on.

        With ``labels_only`` memory grows with the window, not the room: windows run in
        order of their first-axis start, and the logits of a slab of the first axis are
        reduced to labels (and dropped) as soon as no later window reaches it; only the
        slab under the current windows is ever held as float logits.
        """
        crop = to_triple(self.test_cfg['crop_size'], 'test_cfg.crop_size')
        stride = to_triple(self.test_cfg['stride'], 'test_cfg.stride')
        size = inputs.shape[2:]
        if any(s < c for s, c in zip(size, crop)):
            values = getattr(self.data_preprocessor, 'pad_values', EMPTY_INPUT)
            inputs = torch.stack([pad_input(v, crop, values) for v in inputs])
            out = self._slide(inputs, labels_only, progress)
            return out[..., :size[0], :size[1], :size[2]]
        B, _, D, H, W = inputs.shape
        windows = slide_windows((D, H, W), crop, stride)  # first-axis starts ascending
        if progress is None:
            progress = self.test_cfg.get('progress', False)
        bar = ProgressBar(len(windows)) if progress else None
        if not labels_only:
            logits = inputs.new_zeros((B, self.out_channels, D, H, W))
            count = inputs.new_zeros((1, 1, D, H, W))
            for window in windows:
                index = (slice(None), slice(None)) + window
                logits[index] += self.encode_decode(inputs[index])
                count[index] += 1
                if bar is not None:
                    bar.update()
            return logits / count
        # labels of up to 256 classes fit a byte: an eighth of a room of int64
        dtype = torch.uint8 if self.out_channels <= 256 else torch.long
        labels = torch.empty((B, D, H, W), dtype=dtype, device=inputs.device)
        # The slab under the current windows, a fixed buffer of one window's depth: windows
        # start in ascending first-axis order, so once one starts at x0 every voxel before
        # x0 is final; it is reduced to labels row by row and the buffer moved up in place
        # (no concatenation, no slab-sized temporaries).
        depth = crop[0]
        slab = inputs.new_zeros((B, self.out_channels, depth, H, W))
        count = inputs.new_zeros((1, 1, depth, H, W))
        start = 0  # first-axis voxel of the buffer's row 0

        def finish(rows: int) -> None:
            for r in range(rows):
                labels[:, start + r] = (slab[:, :, r] / count[:, :, r]).argmax(1).to(dtype)

        for window in windows:
            x0, x1 = window[0].start, window[0].stop
            if x0 > start:
                done = min(x0 - start, depth)
                finish(done)
                for r in range(depth - done):  # ascending: a source row is never overwritten
                    slab[:, :, r].copy_(slab[:, :, r + done])
                    count[:, :, r].copy_(count[:, :, r + done])
                slab[:, :, depth - done:].zero_()
                count[:, :, depth - done:].zero_()
                start = x0
            index = (slice(None), slice(None), slice(x0 - start, x1 - start)) + window[1:]
            slab[index] += self.encode_decode(inputs[(slice(None), slice(None)) + window])
            count[index] += 1
            if bar is not None:
                bar.update()
        finish(D - start)
        return labels

    def slide_inference(self, inputs: Tensor, progress: Optional[bool] = None) -> Tensor:
        """(B, K, D, H, W) logits averaged over overlapping ``crop_size`` windows; ``progress``
        (default ``test_cfg.progress``) shows a bar over the windows."""
        return self._slide(inputs, labels_only=False, progress=progress)

    def slide_labels(self, inputs: Tensor, progress: Optional[bool] = None) -> Tensor:
        """(B, D, H, W) labels of :meth:`slide_inference` (uint8 for up to 256 classes), holding
        logits of one window-deep slab only."""
        return self._slide(inputs, labels_only=True, progress=progress)

    def inference(self, inputs: Tensor, batch_img_metas: Optional[List[dict]] = None,
                  progress: Optional[bool] = None) -> Tensor:
        if self.test_cfg.get('mode', 'whole') == 'slide':
            return self.slide_inference(inputs, progress)
        return self.encode_decode(inputs)

    def predict_labels(self, inputs: Tensor, progress: Optional[bool] = None) -> Tensor:
        """(B, D, H, W) labels; in ``slide`` mode without full-room logits in memory."""
        if self.test_cfg.get('mode', 'whole') == 'slide':
            return self.slide_labels(inputs, progress)
        return self.encode_decode(inputs).argmax(1)

    def predict(self, inputs: Tensor,
                data_samples: Optional[List[VolumeDataSample]] = None) -> List[VolumeDataSample]:
        """``pred_sem_seg`` of each sample (``seg_logits`` too in ``whole`` mode; slide mode
        keeps no room-sized logits, see :meth:`slide_labels`)."""
        if self.test_cfg.get('mode', 'whole') == 'slide':
            return self.postprocess_result(None, data_samples, self.slide_labels(inputs).long())
        return self.postprocess_result(self.inference(inputs), data_samples)

    def postprocess_result(self, seg_logits: Optional[Tensor],
                           data_samples: Optional[List[BaseDataElement]] = None,
                           labels: Optional[Tensor] = None) -> list:
        """Crop batch padding off each sample and attach ``pred_sem_seg`` (from ``labels``
        when given) and, when there are logits, ``seg_logits``."""
        if data_samples is None:
            n = (seg_logits if seg_logits is not None else labels).shape[0]
            data_samples = [VolumeDataSample() for _ in range(n)]
        for i, sample in enumerate(data_samples):
            full = (seg_logits if seg_logits is not None else labels)[i].shape[-3:]
            D, H, W = sample.metainfo.get('padded_from', full)
            if 'gt_sem_seg' in sample:
                sample.gt_sem_seg.data = sample.gt_sem_seg.data[:, :D, :H, :W]
            if seg_logits is not None:
                logits = seg_logits[i][:, :D, :H, :W]
                sample.seg_logits = VolumeData(data=logits)
            pred = (labels[i] if labels is not None else logits.argmax(0))[:D, :H, :W]
            sample.pred_sem_seg = VolumeData(data=pred[None])
        return data_samples
