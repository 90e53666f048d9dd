# Copyright (c) mmmultimae contributors. All rights reserved.
"""Strict loading of single images for classification pipelines.

mmcv's ``LoadImageFromFile`` decodes with OpenCV by default, which for a
truncated JPEG may log a libjpeg warning and return a partly grey image;
with ``imdecode_backend='pillow'`` it leaves grey-scale and CMYK handling to
OpenCV/PIL defaults. This loader decodes with PIL (as torchvision's
``ImageFolder``, which the official MultiMAE evaluation uses), refuses
files it cannot decode completely, and converts every 8-bit colour model to
RGB, so no image is silently partly loaded.
"""
from typing import Dict

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image, ImageOps

from mmmultimae.registry import TRANSFORMS

#: PIL modes converted to RGB: grey-scale (``L``, ``1``), palette (``P``),
#: CMYK (PIL's conversion, as torchvision's loader; no ICC profile), YCbCr,
#: and modes with alpha (``RGBA``, ``LA``, ``PA``, ``RGBX``: alpha dropped).
CONVERTIBLE_MODES = ('RGB', 'L', '1', 'P', 'CMYK', 'YCbCr', 'RGBA', 'LA', 'PA',
                     'RGBX')


def load_rgb_image(path: str, ignore_orientation: bool = True) -> np.ndarray:
    """Decode an image file completely into a uint8 ``(H, W, 3)`` RGB array.

    Args:
        path (str): Image file.
        ignore_orientation (bool): Keep the stored pixel order (True, as
            torchvision's loader) or rotate / flip it by the EXIF
            orientation tag (False, as mmcv's ``color_type='color'``).

    Raises:
        FileNotFoundError: If the file does not exist.
        OSError: If the file is not an image PIL can decode, or is
            truncated or corrupt (the message names the file).
        ValueError: If the image is 16-bit / 32-bit / float (no defined
            conversion to 8-bit RGB).
    """
    try:
        with Image.open(path) as img:
            if img.mode not in CONVERTIBLE_MODES:
                raise ValueError(
                    f"image '{path}' has PIL mode {img.mode!r}, which has no "
                    f'defined conversion to 8-bit RGB (expected one of '
                    f'{CONVERTIBLE_MODES})')
            if not ignore_orientation:
                img = ImageOps.exif_transpose(img)
            return np.array(img.convert('RGB'))
    except FileNotFoundError as err:
        raise FileNotFoundError(f"image '{path}' does not exist") from err
    except (OSError, SyntaxError) as err:
        # PIL raises OSError (unidentified, truncated or broken data) and
        # sometimes SyntaxError for broken headers
        raise OSError(f"cannot decode image '{path}' (corrupt or truncated "
                      f'file?): {err}') from err


@TRANSFORMS.register_module()
class LoadImageFromFileStrict(BaseTransform):
    """Load ``results['img_path']`` into ``results['img']``, strictly.

    Same outputs as mmcv's ``LoadImageFromFile`` (uint8 ``img``, BGR by
    default, ``img_shape`` and ``ori_shape``), decoded completely with PIL:
    a missing, corrupt or truncated file is an error naming it, never a
    partly grey image or a skipped sample. Grey-scale, palette, CMYK and
    alpha images are converted to 3-channel colour (see
    :data:`CONVERTIBLE_MODES`); 16-bit and float images are an error.

    Args:
        channel_order (str): ``'bgr'`` (default, mmcv's convention, for
            data preprocessors with ``to_rgb=True``) or ``'rgb'``.
        to_float32 (bool): Return float32 instead of uint8. Defaults to
            False.
        ignore_orientation (bool): Ignore the EXIF orientation tag (mmcv's
            ``color_type='color_ignore_orientation'``, torchvision's
            loader); False applies it (mmcv's ``'color'``). Defaults to
            False.
    """

    def __init__(self,
                 channel_order: str = 'bgr',
                 to_float32: bool = False,
                 ignore_orientation: bool = False) -> None:
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(
                f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
        self.channel_order = channel_order
        self.to_float32 = to_float32
        self.ignore_orientation = ignore_orientation

    def transform(self, results: Dict) -> Dict:
        """Decode the image of the sample."""
        path = results.get('img_path')
        if not isinstance(path, str):
            raise KeyError('LoadImageFromFileStrict needs a file path in '
                           f"results['img_path'], got {path!r}")
        img = load_rgb_image(path, self.ignore_orientation)
        if self.channel_order == 'bgr':
            img = np.ascontiguousarray(img[..., ::-1])
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(channel_order='
                f'{self.channel_order!r}, to_float32={self.to_float32}, '
                f'ignore_orientation={self.ignore_orientation})')
