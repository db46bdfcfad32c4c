from .drawing import (
                      colorize,
                      label_tile,
                      legend,
                      panorama_figure,
                      slice_figure,
                      with_legend,
                      write_png,
)
from .mesh import label_mesh, write_ply

__all__ = [
    'colorize', 'legend', 'label_tile', 'panorama_figure', 'slice_figure', 'with_legend',
    'write_png',
    'label_mesh', 'write_ply'
]
