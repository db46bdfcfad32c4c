from .inference import inference_room, init_segmentor, predict_room, student_config

__all__ = ['init_segmentor', 'inference_room', 'predict_room', 'student_config']
