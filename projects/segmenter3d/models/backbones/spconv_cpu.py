# Copyright (c) 3D Segmenter authors. All rights reserved.
"""spconv on a CPU-only torch: the one place that imports spconv and fixes its CPU backward.

spconv 2.3.8 (with cumm 0.7.x) ships CPU kernels, and its forward runs on CPU. Its backward
(``spconv.pytorch.ops.indice_conv_backward`` and the implicit-GEMM backward) asks for the
current CUDA stream *before* it branches on the device, so on a torch built without CUDA every
backward fails inside ``torch.cuda.current_stream()`` (spconv issue 366). The CPU kernels take
stream 0. :func:`patch_spconv_cpu_backward` makes ``spconv.pytorch.ops.get_current_stream``
return 0 when CUDA is unavailable; that is all. It is pinned to the version it was checked on:
another spconv version is left untouched, with a warning that says why.
"""
import importlib
import warnings
from types import ModuleType

import torch

#: the spconv release the workaround was checked against (keep in step with
#: requirements/optional.txt)
SPCONV_VERSION = '2.3.8'
INSTALL_HINT = f'pip install spconv=={SPCONV_VERSION} cumm==0.7.11 (or `make install`)'
_PATCH_MARK = '_segmenter3d_cpu_stream'


def import_spconv() -> ModuleType:
    """``spconv.pytorch``, with the CPU backward workaround applied when it applies.

    Raises:
        ImportError: spconv is not installed (names the package to install).
    """
    try:
        spconv = importlib.import_module('spconv')
        importlib.import_module('spconv.pytorch')
    except ImportError as err:
        raise ImportError(f'the sparse backbone needs spconv {SPCONV_VERSION} with CPU kernels: '
                          f'{INSTALL_HINT} ({err})') from err
    patch_spconv_cpu_backward(spconv)
    return importlib.import_module('spconv.pytorch')


def patch_spconv_cpu_backward(spconv: ModuleType) -> bool:
    """Make spconv's ``get_current_stream`` return 0 on a torch without CUDA.

    Args:
        spconv (module): The imported ``spconv`` package.

    Returns:
        bool: Whether ``spconv.pytorch.ops`` now carries the workaround (``False`` when CUDA is
        available, so nothing needs fixing, or when the spconv version is not the pinned one).
    """
    ops = importlib.import_module('spconv.pytorch.ops')
    if getattr(ops.get_current_stream, _PATCH_MARK, False):
        return True
    if torch.cuda.is_available():
        return False
    version = getattr(spconv, '__version__', 'unknown')
    if version != SPCONV_VERSION:
        warnings.warn(f'spconv {version} is installed; the CPU backward workaround was checked '
                      f'on spconv {SPCONV_VERSION} only and is NOT applied, so training on a '
                      f'CPU-only torch may fail in torch.cuda.current_stream(). '
                      f'Install the checked version: {INSTALL_HINT}')
        return False
    original = ops.get_current_stream

    def get_current_stream() -> int:
        # CPU kernels ignore the stream; 0 is what spconv itself passes on its CPU branches
        return original() if torch.cuda.is_available() else 0

    setattr(get_current_stream, _PATCH_MARK, True)
    ops.get_current_stream = get_current_stream
    return True
