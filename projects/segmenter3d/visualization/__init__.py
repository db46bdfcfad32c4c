from .drawing import colorize, panorama_figure, slice_figure, write_png
from .mesh import label_mesh, write_ply

__all__ = ['colorize', 'panorama_figure', 'slice_figure', 'write_png', 'label_mesh',
           'write_ply']
