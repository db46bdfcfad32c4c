from .linear_skip_head import LinearSkipHead

__all__ = ['LinearSkipHead']
