from .inference import inference_room, init_segmentor

__all__ = ['init_segmentor', 'inference_room']
