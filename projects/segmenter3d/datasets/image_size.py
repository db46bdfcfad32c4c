# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Image sizes checked from the file header, before any pixel is decoded.

A PNG of a few hundred kilobytes can declare 20000 x 40000 pixels and decode to gigabytes;
cv2 and mmcv decode first and ask later. Pillow reads only the header to know the size.
"""
import os
import warnings

MAX_PIXELS = int(os.environ.get('SEGMENTER3D_MAX_PIXELS', 100_000_000))  # a 7k x 14k panorama


def check_image_pixels(path: str, max_pixels: int = None) -> None:
    """Refuse an image that declares more than ``max_pixels`` pixels (default
    :data:`MAX_PIXELS`, 100 M; the environment variable ``SEGMENTER3D_MAX_PIXELS`` raises it).
    Files Pillow cannot identify are left to the decoder, which names them.

    Raises:
        ValueError: naming the file and its declared size.
    """
    from PIL import Image
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    try:
        with warnings.catch_warnings():  # Pillow warns above 89 M pixels: the cap is ours
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(path) as image:  # lazy: the header only
                width, height = image.size
    except Image.DecompressionBombError as err:  # Pillow's own cap, above ours by default
        raise ValueError(f'{path}: the image declares too many pixels to decode ({err})') from None
    except (OSError, ValueError, SyntaxError):
        return
    if width * height > limit:
        raise ValueError(f'{path}: the image declares {width}x{height} = {width * height:,} '
                         f'pixels, beyond the limit of {limit:,} (refused before decoding; set '
                         'SEGMENTER3D_MAX_PIXELS to raise it)')
