from .sparse_unet3d import SparseUNet3D
from .swin3d import SwinTransformer3D
from .swin_unetr import SwinUNETRBackbone
from .unet3d import UNet3D

__all__ = ['SparseUNet3D', 'SwinTransformer3D', 'SwinUNETRBackbone', 'UNet3D']
