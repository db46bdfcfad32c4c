from .swin3d import SwinTransformer3D

__all__ = ['SwinTransformer3D']
