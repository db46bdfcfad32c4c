from .pano_distiller import PanoDistiller, panorama_logits
from .volume_encoder_decoder import VolumeEncoderDecoder

__all__ = ['VolumeEncoderDecoder', 'PanoDistiller', 'panorama_logits']
