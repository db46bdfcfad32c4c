# Copyright (c) 3D Segmenter authors. All rights reserved.
"""What distillation keeps per room between visits, within a memory budget."""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Hashable, List, Optional, Sequence

from torch import Tensor

from ...rendering import HitProjector, RayHits, TSDFRaycaster


@dataclass
class RoomEntry:
    """A room's rays (cast once), their projector, the projectors of the points along the rays
    where the KD term compares (the hits themselves by default) and, once computed, the
    teacher's logits at the hit pixels; kept on the CPU."""
    hits: RayHits
    projector: HitProjector
    kd_projectors: List[HitProjector] = field(default_factory=list)
    teacher_rows: Optional[Tensor] = None  # (P, K) float16

    @classmethod
    def cast(cls, raycaster: TSDFRaycaster, tsdf: Tensor, camera: Tensor,
             ray_offsets: Sequence[float] = (0., )) -> 'RoomEntry':
        """A view's entry: rays cast from ``camera`` (3,) (voxel coordinates) through the (X, Y, Z)
        ``tsdf`` and a projector per offset along the rays (in voxels; 0 is the hit), all on
        the CPU."""
        tsdf = tsdf.detach().float()
        camera = camera.to(tsdf.device)
        hits = raycaster.cast(tsdf, camera)
        projector = HitProjector(hits, tsdf.shape).to('cpu')
        # every offset keeps the hit's pixels: a row per hit pixel per offset
        kd_projectors = [projector if o == 0 else
                         HitProjector(hits.behind(camera, o), tsdf.shape).to('cpu')
                         for o in ray_offsets]
        return cls(hits.to('cpu'), projector, kd_projectors)

    @property
    def nbytes(self) -> int:
        tensors = [self.hits.points, self.hits.depth, self.hits.valid]
        if self.teacher_rows is not None:
            tensors.append(self.teacher_rows)
        extra = [p for p in self.kd_projectors if p is not self.projector]
        return sum(t.nbytes for t in tensors) + sum(p.nbytes for p in [self.projector, *extra])


class RoomCache:
    """Room entries for later visits, least recently used dropped beyond ``max_mb`` megabytes.

    Args:
        max_mb (float, optional): Budget; None keeps every room.
    """

    def __init__(self, max_mb: Optional[float] = None) -> None:
        if max_mb is not None and max_mb <= 0:
            raise ValueError(f'room_cache_mb must be positive or None, got {max_mb}')
        self.max_bytes = None if max_mb is None else max_mb * 2**20
        self._entries: 'OrderedDict[Hashable, RoomEntry]' = OrderedDict()
        self._sizes = {}

    @property
    def nbytes(self) -> int:
        return sum(self._sizes.values())

    def get(self, key: Hashable) -> Optional[RoomEntry]:
        if key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return self._entries[key]

    def put(self, key: Hashable, entry: RoomEntry) -> None:
        """Keep (or re-measure, after it grew) ``entry``; then drop rooms over the budget,
        oldest first (a room larger than the whole budget is not kept)."""
        self._entries[key] = entry
        self._entries.move_to_end(key)
        self._sizes[key] = entry.nbytes
        while self.max_bytes is not None and self._entries and self.nbytes > self.max_bytes:
            old, _ = self._entries.popitem(last=False)
            del self._sizes[old]

    def keys(self) -> List[Hashable]:
        return list(self._entries)
