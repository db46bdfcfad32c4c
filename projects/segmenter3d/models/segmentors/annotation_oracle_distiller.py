# Copyright (c) 3D Segmenter authors. All rights reserved.
"""A teacher that is right at every pixel it sees: what correct labels at the hits add."""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.registry import MODELS
from torch import Tensor

from ...structures import VolumeDataSample
from .pano_distiller import PanoDistiller

NO_LABEL = 255


@MODELS.register_module()
class AnnotationOracleDistiller(PanoDistiller):
    """:class:`PanoDistiller` whose teacher is the label panorama itself.

    The teacher's logits at a pixel are ``log((1 - smoothing) * onehot + smoothing / K)`` of
    the pixel's label (``gt_panorama``, from ``LoadPanorama(with_annotation=True)``), resized
    to the raycaster's panorama by nearest neighbour. Pixels without a label (255) get an
    all-zero row, which :meth:`teacher_valid` leaves out of the KD term. The rays, the fused
    views, the KD term and the cross entropy where 3D labels exist are PanoDistiller's, so at
    equal budget oracle minus the no-KD control is what correct labels at the hits add, and a
    trained teacher's run minus the oracle is what the teacher adds besides being right (on
    the embedded rooms the larger part, and not uniform softness: ``benchmarks/RESULTS.md``).

    Args:
        backbone, decode_head: The student, as for :class:`VolumeEncoderDecoder`.
        smoothing (float): Probability spread evenly over the classes, in (0, 0.5): keeps the
            target's log finite and its top class above one half. Defaults to 0.1.
        teacher_config, teacher_checkpoint: Not used (the labels take the teacher's place);
            accepted so a distillation config can switch to the oracle with ``model.type``
            alone, and named in the log.
        **kwargs: :class:`PanoDistiller` arguments (raycaster, distill_loss, ...).
    """

    def __init__(self, backbone: dict, decode_head: dict, smoothing: float = 0.1,
                 teacher_config=None, teacher_checkpoint: Optional[str] = None,
                 **kwargs) -> None:
        if not 0 < smoothing < 0.5:
            raise ValueError(f'AnnotationOracleDistiller: smoothing must be in (0, 0.5), got '
                             f'{smoothing}')
        super().__init__(backbone, decode_head, teacher_config=teacher_config,
                         teacher_checkpoint=teacher_checkpoint, **kwargs)
        self.smoothing = smoothing

    def _build_teacher(self, config, checkpoint: Optional[str]):
        if config is not None or checkpoint is not None:
            print_log(f'AnnotationOracleDistiller: the label panoramas are the teacher; '
                      f'{checkpoint or config} is not used', logger='current')
        self.teacher_resize = None
        return None

    @torch.no_grad()
    def teacher_logits(self, sample: VolumeDataSample, device,
                       image: Optional[Tensor] = None, view: int = 0) -> Tensor:
        """(K, H, W) log-probabilities of the smoothed labels of view ``view``; 0 where the
        panorama has no label."""
        labels = sample.get('gt_panorama')
        if labels is None:
            raise ValueError(f"AnnotationOracleDistiller: room {sample.metainfo.get('room_id')} "
                             "has no 'gt_panorama'; use LoadPanorama(with_annotation=True) and "
                             'set data_prefix.seg_map_path')
        if labels.dim() == 3:
            labels = labels[view]
        size = (self.raycaster.height, self.raycaster.width)
        labels = F.interpolate(labels[None, None].float(), size=size, mode='nearest')[0, 0]
        labels = labels.long().to(device)
        k = self.num_classes
        known = labels != NO_LABEL
        if bool((labels[known] >= k).any()):
            raise ValueError(f"AnnotationOracleDistiller: room {sample.metainfo.get('room_id')} "
                             f'has label panorama classes >= {k} besides {NO_LABEL}')
        logits = torch.full((k, *size), math.log(self.smoothing / k), device=device)
        top = math.log(1 - self.smoothing + self.smoothing / k)
        logits.scatter_(0, labels.clamp(max=k - 1)[None], top)
        return logits * known

    def teacher_valid(self, rows: Tensor) -> Tensor:
        """The rows of labelled pixels: an unlabelled pixel's row is all zero, a labelled one
        never is."""
        return rows.abs().amax(dim=1) > 0
