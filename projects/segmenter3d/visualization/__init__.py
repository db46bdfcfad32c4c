from .drawing import colorize, panorama_figure, slice_figure, write_png
from .mesh import label_mesh, write_ply
from .volume_vis_hook import VolumeVisualizationHook

__all__ = ['VolumeVisualizationHook', 'colorize', 'panorama_figure', 'slice_figure',
           'write_png', 'label_mesh', 'write_ply']
