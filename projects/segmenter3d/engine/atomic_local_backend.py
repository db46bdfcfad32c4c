# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Local file backend whose writes are atomic, for checkpoints.

mmengine's ``LocalBackend.put`` opens the target and writes into it, so a run killed during a
save leaves a truncated checkpoint where a good one was. This backend writes a temporary file in
the same folder, flushes it to disk and renames it over the target: the target is always either
the previous complete file or the new complete file. Configs select it with
``default_hooks.checkpoint.backend_args = dict(backend='atomic_local')``.
"""
import os
import os.path as osp
from pathlib import Path
from typing import Union

import mmengine
from mmengine.fileio.backends import LocalBackend, register_backend


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        filepath = str(filepath)
        mmengine.mkdir_or_exist(osp.dirname(filepath))
        tmp = f'{filepath}.tmp{os.getpid()}'
        try:
            with open(tmp, 'wb') as f:
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        finally:
            if osp.exists(tmp):
                os.remove(tmp)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)
