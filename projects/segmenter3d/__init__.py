# Copyright (c) 3D Segmenter authors. All rights reserved.
"""3D Segmenter: importing this package registers its parts in mmseg's registries."""
import mmcv
import mmengine
from mmengine.utils import digit_version

from .version import __version__

# Keep in step with requirements/mminstall.txt.
MMCV_MIN, MMCV_MAX = '2.0.0rc4', '2.2.0'
MMENGINE_MIN, MMENGINE_MAX = '0.10.7', '0.11.0'
if not digit_version(MMCV_MIN) <= digit_version(mmcv.__version__) < digit_version(MMCV_MAX):
    raise ImportError(f'segmenter3d needs {MMCV_MIN} <= mmcv < {MMCV_MAX}, found '
                      f'{mmcv.__version__}; run `make install`')
if not (digit_version(MMENGINE_MIN) <= digit_version(mmengine.__version__) <
        digit_version(MMENGINE_MAX)):
    raise ImportError(f'segmenter3d needs {MMENGINE_MIN} <= mmengine < {MMENGINE_MAX}, found '
                      f'{mmengine.__version__}; run `make install`')

# registers our parts in mmseg's registries; nothing global besides (safe checkpoint loading
# is switched on by checkpoint_io.use_safe_checkpoint_loading, which our tools call)
from . import (  # noqa: E402,F401
    apis,
    checkpoint_io,
    datasets,
    engine,
    evaluation,
    models,
    rendering,
    structures,
    synthrooms,
    visualization,
)

__all__ = ['__version__', 'datasets', 'evaluation', 'models', 'rendering', 'structures']
