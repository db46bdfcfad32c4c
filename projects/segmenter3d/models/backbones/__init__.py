from .swin3d import SwinTransformer3D
from .unet3d import UNet3D

__all__ = ['SwinTransformer3D', 'UNet3D']
