from .annotation_oracle_distiller import AnnotationOracleDistiller
from .pano_distiller import PanoDistiller, panorama_logits, pipeline_resize
from .volume_encoder_decoder import VolumeEncoderDecoder

__all__ = [
    'AnnotationOracleDistiller', 'VolumeEncoderDecoder', 'PanoDistiller', 'panorama_logits',
    'pipeline_resize'
]
