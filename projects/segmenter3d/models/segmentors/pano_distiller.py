# Copyright (c) 3D Segmenter authors. All rights reserved.
"""2D panorama -> 3D distillation (the paper's contribution)."""
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import print_log
from mmseg.registry import MODELS, TASK_UTILS
from torch import Tensor

from ...encoding import input_tsdf
from ...rendering import room_camera
from ...structures import VolumeDataSample
from .room_cache import RoomCache, RoomEntry
from .volume_encoder_decoder import VolumeEncoderDecoder


def pipeline_resize(cfg: Config) -> Optional[dict]:
    """The ``Resize`` of an mmseg config's test pipeline (``scale`` (w, h), ``keep_ratio``), or
    None: what the teacher saw of a panorama when it was trained and tested."""
    loader = cfg.get('test_dataloader') or {}
    pipeline = (loader.get('dataset') or {}).get('pipeline') or cfg.get('test_pipeline') or []
    for step in pipeline:
        if step.get('type') in ('Resize', 'mmseg.Resize', 'mmcv.Resize') and step.get('scale'):
            return dict(scale=tuple(step['scale']), keep_ratio=bool(step.get('keep_ratio')))
    return None


@torch.no_grad()
def panorama_logits(segmentor, image: Tensor, size, resize: Optional[dict] = None) -> Tensor:
    """(K, H, W) logits of an mmseg segmentor on one (3, h, w) uint8 BGR panorama (as mmseg
    loads images), bilinearly resized to ``size``. ``resize`` (``scale`` (w, h),
    ``keep_ratio``) first resizes the image as mmseg's ``Resize`` does (cv2, bilinear), so
    the teacher sees the input size it was trained on."""
    if resize is not None:
        array = image.permute(1, 2, 0).cpu().numpy()
        resized = (mmcv.imrescale if resize['keep_ratio'] else mmcv.imresize)(
            array, resize['scale'])
        image = torch.from_numpy(np.ascontiguousarray(resized.transpose(2, 0, 1))).to(
            image.device)
    data = segmentor.data_preprocessor(dict(inputs=[image]), False)
    meta = dict(img_shape=tuple(image.shape[1:]), ori_shape=tuple(image.shape[1:]),
                pad_shape=tuple(data['inputs'].shape[2:]))
    logits = segmentor.inference(data['inputs'], [meta])[0]
    return F.interpolate(logits[None], size=tuple(size), mode='bilinear',
                         align_corners=False)[0]


@MODELS.register_module()
class PanoDistiller(VolumeEncoderDecoder):
    """A 3D Segmenter student distilled from a frozen 2D panorama teacher.

    The distiller *is* the student (its backbone and head sit where a
    :class:`VolumeEncoderDecoder` has them, so its checkpoints load into a plain one and
    ``tools/test.py`` evaluates the student). Per room: student logits on the whole room, sampled
    at the room's ray hits, against the teacher's logits on the room's panorama;
    ``loss = CE + loss_dist`` (:class:`PanoramicKDLoss` over pixels whose ray hit). The rays of a
    room are cast once and kept as a :class:`HitProjector` (a sparse matrix), with the teacher's
    logits at the hit pixels: a step samples the student with one sparse matrix product and
    compares (P, K) rows.

    The teacher (any mmseg segmentor config + checkpoint) is kept outside the module tree: it is
    never in ``state_dict``, never in the optimiser, always in eval mode and run without gradients.
    It sees each panorama as its config's test pipeline resizes it (:func:`pipeline_resize`): the
    input it was trained and tested on, whatever the size of the stored panorama.

    Args:
        backbone, decode_head: The student, as for :class:`VolumeEncoderDecoder`.
        teacher_config (str | dict): mmseg config (path or dict) whose ``model`` is the teacher.
        teacher_checkpoint (str, optional): Teacher weights. Defaults to None (random teacher,
            for tests only).
        raycaster (dict): ``TSDFRaycaster`` config; its height x width is the distillation
            panorama. Defaults to 256 x 512.
        distill_loss (dict): Defaults to ``PanoramicKDLoss`` with tau 20.
        ray_offsets (sequence of float): Points along each ray, in voxels from the surface
            hit (negative: towards the camera), where the student is compared with the
            teacher's pixel. Defaults to ``(0,)``: the hit only, as the paper. The release's
            labels give every voxel within the TSDF truncation (3 voxels) of a surface that
            surface's class, in front of it and behind it; ``(-2, -1, 0, 1, 2)`` carries the
            pixel over that band as the labels do.
        kd_space (str): Where the student meets the teacher. ``'pixel'`` (the paper's, the
            default): the student's logits blended at each hit pixel against that pixel's
            teacher, averaged over the hit pixels. ``'voxel'``: the teacher's probabilities
            (at the loss's temperature) splatted back onto the voxels the hits read
            (trilinear weights, all views and offsets fused), and each such voxel's own
            logits compared with its weighted-mean teacher distribution; a voxel weighs its
            total hit weight, at most 1. Every surface voxel then counts about the same,
            however many pixels look at it (near walls, the poles of the panorama), and no
            voxel is fitted through a blend with its neighbours.
        cache_teacher_logits (bool): Keep each room's teacher logits at the hit pixels
            (float16) after the first visit; the teacher is frozen, so they never change.
            Defaults to True.
        room_cache_mb (float, optional): CPU memory for the rooms' rays, projectors and teacher
            logits (least recently used rooms dropped beyond it). A room takes about 29 MB at
            256 x 512, 111 MB at 512 x 1024. Defaults to 4096; None keeps every room.
        **kwargs: :class:`VolumeEncoderDecoder` arguments.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 teacher_config,
                 teacher_checkpoint: Optional[str] = None,
                 raycaster: dict = dict(type='TSDFRaycaster', height=256, width=512),
                 distill_loss: dict = dict(type='PanoramicKDLoss', tau=20.0),
                 ray_offsets: Sequence[float] = (0., ),
                 kd_space: str = 'pixel',
                 cache_teacher_logits: bool = True,
                 room_cache_mb: Optional[float] = 4096,
                 **kwargs) -> None:
        super().__init__(backbone, decode_head, **kwargs)
        teacher = self._build_teacher(teacher_config, teacher_checkpoint)
        # Not a submodule: excluded from parameters(), state_dict() and the optimiser.
        object.__setattr__(self, 'teacher', teacher)
        self.raycaster = TASK_UTILS.build(raycaster)
        self.distill_loss = MODELS.build(distill_loss)
        if not ray_offsets or len(set(ray_offsets)) != len(ray_offsets):
            raise ValueError(f'PanoDistiller: ray_offsets must be distinct offsets in voxels, got '
                             f'{ray_offsets!r}')
        self.ray_offsets = tuple(float(o) for o in ray_offsets)
        if kd_space not in ('pixel', 'voxel'):
            raise ValueError(f"PanoDistiller: kd_space must be 'pixel' or 'voxel', got "
                             f'{kd_space!r}')
        self.kd_space = kd_space
        self.cache_teacher_logits = cache_teacher_logits
        self._rooms = RoomCache(room_cache_mb)

    def _build_teacher(self, config, checkpoint: Optional[str]):
        if isinstance(config, str) and not osp.isfile(config):
            # our configs give it as '{{fileDirname}}/..', i.e. beside the config file
            raise FileNotFoundError(f'PanoDistiller: teacher_config {config} not found (a '
                                    "relative path is read from the working directory; write "
                                    "'{{fileDirname}}/...' in a config to make it relative "
                                    'to the config file)')
        cfg = Config.fromfile(config) if isinstance(config, str) else Config(dict(config))
        model_cfg = cfg.get('model', cfg)
        model_cfg.pop('pretrained', None)  # the checkpoint holds every weight
        if 'backbone' in model_cfg:
            model_cfg['backbone'].pop('init_cfg', None)
        teacher = MODELS.build(model_cfg)
        if checkpoint is not None:
            from ...checkpoint_io import load_weights
            load_weights(teacher, checkpoint, what='teacher checkpoint')
            print_log(f'PanoDistiller: teacher weights from {checkpoint}', logger='current')
        classes = getattr(teacher.decode_head, 'num_classes', None)
        if classes != self.num_classes:
            raise ValueError(f'PanoDistiller: the teacher ({config}) predicts {classes} classes, '
                             f'the student {self.num_classes}; decode_head.num_classes must agree')
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.teacher_resize = pipeline_resize(cfg)
        return teacher

    def train(self, mode: bool = True) -> 'PanoDistiller':
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # frozen: dropout/drop path never active
        return self

    # ------------------------------------------------------------------ per-room caches
    @staticmethod
    def views(sample: VolumeDataSample, volume_shape) -> List[Tuple[Tensor, Optional[Tensor]]]:
        """``(camera, panorama)`` of each view of a room.

        A room has one panorama ``(3, H, W)`` from ``metainfo['camera']`` (the paper's
        centre view; the centre of the unpadded room, ``ori_shape``, when no camera is
        known), or ``V`` panoramas ``(V, 3, H, W)`` from ``metainfo['cameras']`` (V, 3):
        several views reach surfaces that one view sees occluded.
        """
        moved = sample.metainfo.get('moved_by')
        if moved:  # the rays would leave from a moved room, the teacher sees the stored one
            raise ValueError(f"PanoDistiller: room {sample.metainfo.get('room_id')} went "
                             f'through {", ".join(moved)}, which move the volume but not its '
                             'panorama (the teacher would label directions the rays no longer '
                             'take); remove them from the distillation pipeline')
        pano = sample.get('panorama')
        cameras = sample.metainfo.get('cameras')
        if pano is not None and pano.dim() == 4:
            if cameras is None or len(cameras) != pano.shape[0]:
                raise ValueError(f"PanoDistiller: room {sample.metainfo.get('room_id')} has "
                                 f'{pano.shape[0]} panoramas but cameras '
                                 f'{None if cameras is None else len(cameras)}; '
                                 "metainfo['cameras'] needs one (x, y, z) per panorama")
            return [(torch.as_tensor(c, dtype=torch.float32), p) for c, p in zip(cameras, pano)]
        # the room's own camera, else the centre of the room before padding (``ori_shape``)
        camera = room_camera(sample.metainfo.get('ori_shape', volume_shape),
                             sample.metainfo.get('camera'))
        return [(torch.from_numpy(camera), pano)]

    @staticmethod
    def _room_key(sample: VolumeDataSample, view: int) -> Optional[tuple]:
        """The cache key of a room's view: its volume file where known (rooms of two data roots
        may share a name, e.g. a ConcatDataset of labelled and panorama-only rooms), else its
        name; None (not cached) without either."""
        room = sample.metainfo.get('volume_path', sample.metainfo.get('room_id'))
        return None if room is None else (room, view)

    def _room(self, tsdf: Tensor, sample: VolumeDataSample, view: int = 0,
              camera: Optional[Tensor] = None) -> RoomEntry:
        """One view's rays cast from its camera with their projector (on the CPU), kept."""
        key = self._room_key(sample, view)
        entry = self._rooms.get(key) if key is not None else None
        if entry is None:
            if camera is None:
                camera = self.views(sample, tsdf.shape)[view][0]
            entry = RoomEntry.cast(self.raycaster, tsdf, camera, self.ray_offsets)
            if key is not None:
                self._rooms.put(key, entry)
        return entry

    @torch.no_grad()
    def teacher_logits(self, sample: VolumeDataSample, device,
                       image: Optional[Tensor] = None, view: int = 0) -> Tensor:
        """(K, H, W) teacher logits of a panorama (the room's, by default; ``image`` is view
        ``view``'s) at the raycaster's resolution."""
        image = sample.get('panorama') if image is None else image
        if image is None:
            raise ValueError(f"PanoDistiller: room {sample.metainfo.get('room_id')} has no "
                             f"'panorama'; add LoadPanorama to the pipeline and set "
                             f'data_prefix.img_path')
        self.teacher.to(device)
        return panorama_logits(self.teacher, image.to(device),
                               (self.raycaster.height, self.raycaster.width), self.teacher_resize)

    def teacher_rows(self, sample: VolumeDataSample, entry: RoomEntry, device,
                     image: Optional[Tensor] = None, view: int = 0) -> Tensor:
        """(P, K) teacher logits at a view's hit pixels, kept with the view when
        ``cache_teacher_logits``."""
        rows = entry.teacher_rows if self.cache_teacher_logits else None
        if rows is None:
            logits = self.teacher_logits(sample, device, image, view)
            rows = logits.flatten(1).index_select(1, entry.projector.pixels.to(device)).t()
            key = self._room_key(sample, view)
            if self.cache_teacher_logits and key is not None:
                entry.teacher_rows = rows.half().cpu()
                self._rooms.put(key, entry)  # it grew
        return rows.to(device, torch.float32)

    def teacher_valid(self, rows: Tensor) -> Optional[Tensor]:
        """(P,) bool: the teacher rows the KD term uses; every row (None) for a model teacher."""
        return None

    # ------------------------------------------------------------------ training
    def loss(self, inputs: Tensor, data_samples: List[VolumeDataSample]) -> dict:
        logits = self.train_logits(inputs)
        losses = {f'decode.{k}': v
                  for k, v in self.decode_head.loss_by_feat(logits, data_samples).items()}
        dist = []
        for volume, room_logits, sample in zip(inputs, logits, data_samples):
            shape = sample.metainfo.get('padded_from', volume.shape[1:])
            # the raycaster marches the stored convention (positive in free space)
            tsdf = input_tsdf(volume[0, :shape[0], :shape[1], :shape[2]])
            room_logits = room_logits[:, :shape[0], :shape[1], :shape[2]]
            pairs = []  # (projector, teacher rows at its hit pixels) of every view, offset
            for view, (camera, image) in enumerate(self.views(sample, shape)):
                entry = self._room(tsdf, sample, view, camera)
                rows = self.teacher_rows(sample, entry, inputs.device, image, view)
                pairs += [(projector.to(inputs.device), rows)
                          for projector in entry.kd_projectors]
            if self.kd_space == 'voxel':
                dist.append(self.distill_loss(*self.voxel_rows(room_logits, pairs)))
                continue
            # (P, K) rows at the hit pixels (and at each ray offset): one sparse product
            # each, no panorama-sized tensor; the views' hits fused: every hit pixel of every
            # view is one row of the KD term
            teachers = torch.cat([rows for _, rows in pairs])
            students = torch.cat([projector.sample(room_logits) for projector, _ in pairs])
            dist.append(self.distill_loss(students, teachers, self.teacher_valid(teachers)))
        losses[self.distill_loss.loss_name] = torch.stack(dist).mean()
        return losses

    def voxel_rows(self, room_logits: Tensor, pairs) -> Tuple[Tensor, Tensor, None, Tensor]:
        """The KD term's arguments in voxel space (``kd_space='voxel'``).

        Args:
            room_logits (Tensor): (K, X, Y, Z) student logits of the room.
            pairs (list): ``(HitProjector, (P, K) teacher logits at its hit pixels)`` of
                every view and ray offset.

        Returns:
            tuple: (V, K) student logits at the V voxels some valid hit reads, (V, K) teacher
            logits whose softmax at the loss's temperature is the voxel's weighted-mean
            teacher distribution, None (every row valid) and the (V,) weights
            ``min(total hit weight, 1)``.
        """
        tau = float(getattr(self.distill_loss, 'tau', 1.0))
        voxels, sums = [], []
        for projector, rows in pairs:
            valid = self.teacher_valid(rows)
            valid = rows.new_ones(len(rows)) if valid is None else valid.to(rows.dtype)
            probs = F.softmax(rows / tau, dim=1) * valid[:, None]
            voxels.append(projector.voxels)
            # one sparse product: the probabilities' sums and, last column, the total weight
            sums.append(projector.splat(torch.cat([probs, valid[:, None]], dim=1)))
        voxels, inverse = torch.unique(torch.cat(voxels), return_inverse=True)
        num_classes = room_logits.shape[0]
        total = room_logits.new_zeros((len(voxels), num_classes + 1), dtype=torch.float32)
        total.index_add_(0, inverse, torch.cat(sums).float())
        total, weight = total[:, :-1], total[:, -1]
        keep = weight > 0
        target = total[keep] / weight[keep, None]
        student = room_logits.reshape(num_classes, -1).index_select(1, voxels[keep]).t()
        # logits whose softmax at tau is the target: tau * log(target)
        teacher = tau * target.clamp(min=1e-12).log()
        return student, teacher, None, weight[keep].clamp(max=1)
