# Copyright (c) 3D Segmenter authors. All rights reserved.
"""3D Segmenter: importing this package registers its parts in mmseg's registries."""
import mmcv
import mmengine
from mmengine.utils import digit_version

from .version import __version__

# Keep in step with requirements/mminstall.txt.
MMCV_MIN, MMCV_MAX = '2.0.0rc4', '2.2.0'
MMENGINE_MIN, MMENGINE_MAX = '0.10.0', '1.0.0'
if not digit_version(MMCV_MIN) <= digit_version(mmcv.__version__) < digit_version(MMCV_MAX):
    raise ImportError(f'segmenter3d needs {MMCV_MIN} <= mmcv < {MMCV_MAX}, found '
                      f'{mmcv.__version__}; run `make install`')
if not (digit_version(MMENGINE_MIN) <= digit_version(mmengine.__version__) <
        digit_version(MMENGINE_MAX)):
    raise ImportError(f'segmenter3d needs {MMENGINE_MIN} <= mmengine < {MMENGINE_MAX}, found '
                      f'{mmengine.__version__}; run `make install`')

# mmengine's loading of local checkpoints goes through the weights-only loader (no code runs)
from . import (  # noqa  # noqa: E402,F401
    apis,
    checkpoint_io,  # noqa: E402,F401
    datasets,
    engine,
    evaluation,
    models,
    rendering,
    structures,
    synth,
    visualization,
)

__all__ = ['__version__', 'datasets', 'evaluation', 'models', 'rendering', 'structures']
