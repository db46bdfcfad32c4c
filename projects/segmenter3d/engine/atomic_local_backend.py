# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Local file backend whose writes are atomic, for checkpoints.

mmengine's ``LocalBackend.put`` opens the target and writes into it, so a run killed during a
save leaves a truncated checkpoint where a good one was. This backend writes a temporary file in
the same folder, flushes it to disk and renames it over the target: the target is always either
the previous complete file or the new complete file (:mod:`segmenter3d.fileio`, the writer every
tool uses). Configs select it with
``default_hooks.checkpoint.backend_args = dict(backend='atomic_local')``.
"""
from pathlib import Path
from typing import Union

from mmengine.fileio.backends import LocalBackend, register_backend

from ..fileio import write_bytes_atomic


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        write_bytes_atomic(str(filepath), obj)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)
