# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Plain implementations the tests and benchmarks compare against (not imported by the
package itself; ``import segmenter3d.testing`` explicitly to use them)."""
from .reference_net import REFERENCE_VARIANTS, ReferenceSegmenter3D, partition, slice_mask

__all__ = ['REFERENCE_VARIANTS', 'ReferenceSegmenter3D', 'partition', 'slice_mask']
