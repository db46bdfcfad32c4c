from .trilinear import interpolation_matrix, trilinear_upsample, trilinear_upsample_add_projection

__all__ = ['interpolation_matrix', 'trilinear_upsample', 'trilinear_upsample_add_projection']
