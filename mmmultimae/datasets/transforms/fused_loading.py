# Copyright (c) mmmultimae contributors. All rights reserved.
"""Loading fused with the random resized crop: decode with faster
libraries and convert only the crop, with the semantics of
``LoadMultiModalImages`` followed by ``MultiModalRandomResizedCrop``.

Where the CPU time of the two-transform path goes at ImageNet sizes
(375 x 500 JPEG rgb, 16-bit PNG depth, palette PNG semseg; figures in
``docs/benchmarks.md``): Pillow's JPEG path (header parsing, decoding,
``np.asarray``) costs twice libjpeg-turbo called through simplejpeg for
the same pixels; Pillow's bicubic resize of the rgb crop costs ~5x
PyTorch's vectorised uint8 port of it; the 16-bit depth is copied out of
Pillow, converted to float32 and checked for NaN at full size although
only the crop is kept and integers cannot be NaN.
"""
import struct
from io import BytesIO
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms.utils import cache_randomness
from PIL import Image

from mmmultimae.registry import TRANSFORMS
from .loading import _LABEL_MODES, LoadMultiModalImages, _decode
from .processing import (MultiModalRandomResizedCrop, describe_sample,
                         resized_crop, sample_crop_box)

_JPEG_MAGIC = b'\xff\xd8\xff'
_PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
#: JPEG colour spaces that libjpeg-turbo turns into the RGB that Pillow's
#: ``convert('RGB')`` gives (CMYK / YCCK files go through Pillow).
_FAST_JPEG_SPACES = ('YCbCr', 'Gray', 'RGB')
#: Filters resized with PyTorch (:func:`crop_resize_uint8`).
_TORCH_FILTERS = dict(bilinear='bilinear', bicubic='bicubic')


def _nearest_table(start: int, stop: int, out: int) -> np.ndarray:
    """Source indices of Pillow's nearest resize along one axis."""
    # Pillow's ImagingScaleAffine (float32 and 8-bit images):
    # xo = box0 + step / 2, then xin = (int) xo; xo += step per pixel. A
    # cumulative sum adds in the same order, so the doubles are the same.
    step = (stop - start) / out
    coords = np.full(out, step)
    coords[0] = start + step * 0.5
    return np.cumsum(coords).astype(np.intp)


def nearest_indices(box: Tuple[int, int, int, int],
                    size: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """The rows and columns that :func:`resized_crop` with ``'nearest'``
    samples from a float32 or 8-bit image, for ``box`` and ``size``.

    Pillow samples float32 and 8-bit images through a table of
    accumulated coordinates and 16-bit ones through a direct formula; the
    two disagree by a pixel in a few percent of crops. Depth is resized
    as float32 in the two-transform path, so a 16-bit depth map gathered
    at these indices has the same pixels.

    Args:
        box (tuple[int, int, int, int]): ``(x1, y1, x2, y2)``.
        size (tuple[int, int]): Output ``(h, w)``.

    Returns:
        tuple[np.ndarray, np.ndarray]: Row indices ``(h,)`` and column
        indices ``(w,)``.
    """
    x1, y1, x2, y2 = box
    return _nearest_table(y1, y2, size[0]), _nearest_table(x1, x2, size[1])


def crop_resize_uint8(array: np.ndarray, box: Tuple[int, int, int, int],
                      size: Tuple[int, int], mode: str) -> np.ndarray:
    """Crop ``box``, then resize with PyTorch's antialiased filter.

    ``F.interpolate(..., antialias=True)`` on uint8 channels-last images is
    PyTorch's vectorised port of Pillow-SIMD's resampling: Pillow's filters
    (bicubic with a = -0.5), ~5x faster than Pillow's ``resize``. Inside
    the crop the result is within 1 of :func:`resized_crop`'s (integer
    rounding); at the crop's edges the filter sees only the crop (as the
    official pipeline's ``TF.crop`` then ``resize`` does), where
    :func:`resized_crop` also reads the pixels around the box.

    Args:
        array (np.ndarray): uint8 ``(H, W, C)``.
        box (tuple[int, int, int, int]): ``(x1, y1, x2, y2)``.
        size (tuple[int, int]): Output ``(h, w)``.
        mode (str): ``'bilinear'`` or ``'bicubic'``.

    Returns:
        np.ndarray: uint8 ``(h, w, C)``, C-contiguous.
    """
    x1, y1, x2, y2 = box
    crop = torch.from_numpy(array[y1:y2, x1:x2]).permute(2, 0, 1)[None]
    # the vectorised uint8 kernel wants channels-last memory
    crop = crop.contiguous(memory_format=torch.channels_last)
    out = F.interpolate(
        crop, size=tuple(size), mode=_TORCH_FILTERS[mode], antialias=True)
    return out[0].permute(1, 2, 0).contiguous().numpy()


def _png_gray16_shape(data: bytes) -> Optional[Tuple[int, int]]:
    """``(H, W)`` of a 16-bit grayscale, non-interlaced PNG (the depth
    format), read from its IHDR chunk; None for any other file."""
    if data[:8] != _PNG_MAGIC or data[12:16] != b'IHDR' or len(data) < 29:
        return None
    width, height, depth, color, _, _, interlace = struct.unpack(
        '>IIBBBBB', data[16:29])
    if depth != 16 or color != 0 or interlace != 0:
        return None
    return height, width


class _Opened:
    """One file of a sample: its bytes, and what its header says
    (``kind`` ``'jpeg'``: decoded by simplejpeg; ``'gray16'``: a 16-bit PNG
    decoded by OpenCV; ``'pil'``: ``image`` holds the lazily opened
    file)."""

    def __init__(self, modality: str, path: str) -> None:
        self.modality = modality
        self.path = path
        self.image = None
        try:
            with open(path, 'rb') as f:
                self.data = f.read()
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"{modality} file '{path}' does not exist") from err
        if modality == 'rgb' and self.data[:3] == _JPEG_MAGIC:
            import simplejpeg
            try:
                height, width, space, _ = simplejpeg.decode_jpeg_header(
                    self.data)
            except ValueError as err:
                raise OSError(f"cannot read {modality} file '{path}': "
                              f'{err}') from err
            if space in _FAST_JPEG_SPACES:
                self.kind, self.shape = 'jpeg', (height, width)
                return
        if modality == 'depth':
            shape = _png_gray16_shape(self.data)
            if shape is not None:
                self.kind, self.shape = 'gray16', shape
                return
        try:
            # lazy: reads the header only
            self.image = Image.open(BytesIO(self.data))
        except (OSError, SyntaxError) as err:
            raise OSError(
                f"cannot read {modality} file '{path}': {err}") from err
        self.kind = 'pil'
        self.shape = (self.image.height, self.image.width)

    def error(self, reason: str) -> OSError:
        return OSError(
            f"cannot read {self.modality} file '{self.path}': {reason}")


@TRANSFORMS.register_module()
class LoadMultiModalRandomResizedCrop(LoadMultiModalImages):
    """Load a sample and crop it: ``LoadMultiModalImages`` +
    ``MultiModalRandomResizedCrop`` in one transform, ~1.5x the samples
    per loader core at ImageNet sizes (``docs/benchmarks.md``).

    The crop box is drawn with ``np.random`` exactly as
    :class:`MultiModalRandomResizedCrop` draws it (the same random state
    gives the same box), from the image size in the files' headers,
    before any pixel is decoded. Then, per modality:

    - ``rgb`` JPEG (YCbCr, grayscale or RGB): decoded by libjpeg-turbo
      through simplejpeg (Pillow's pixels), cropped and resized with
      :func:`crop_resize_uint8` (bilinear / bicubic; other filters with
      Pillow as before). JPEGs are decoded at full size: libjpeg's DCT
      scaling (1/2 ... 1/8) would need crops of >= 448 rows for a 224
      output, which a 375 x 500 image never has, and measured no faster
      on 750 x 1000 images (``docs/benchmarks.md``).
    - ``depth`` 16-bit PNG with ``nearest``: decoded by OpenCV (Pillow's
      values), the crop gathered at :func:`nearest_indices`, then
      converted to float32: the same values.
    - ``semseg``: resized by Pillow in the file's mode: the same ids.
    - anything else (CMYK JPEGs, float depth, normals, masks, other
      filters): decoded in full and cropped as the two transforms do.

    The keys and values are those of the two transforms in a row, with the
    same errors (a file that cannot be read, modalities of different
    sizes). Depth and semseg are equal; rgb is within 1 inside the crop
    and differs at its edges (see :func:`crop_resize_uint8`; measured in
    ``tests/test_datasets/test_fused_loading.py``).

    Args:
        modalities, optional_modalities, depth_scale, on_error: As
            :class:`LoadMultiModalImages`.
        size, scale, ratio, interpolations, max_attempts: As
            :class:`MultiModalRandomResizedCrop`.
    """

    def __init__(self,
                 modalities: Sequence[str] = ('rgb', 'depth', 'semseg'),
                 optional_modalities: Sequence[str] = (),
                 depth_scale: float = 2**-16,
                 on_error: str = 'raise',
                 size: Union[int, Sequence[int]] = 224,
                 scale: Tuple[float, float] = (0.2, 1.0),
                 ratio: Tuple[float, float] = (3 / 4, 4 / 3),
                 interpolations: Optional[Dict[str, str]] = None,
                 max_attempts: int = 10) -> None:
        super().__init__(modalities, optional_modalities, depth_scale,
                         on_error)
        try:
            import simplejpeg  # noqa: F401
        except ImportError as err:
            raise ImportError(
                'LoadMultiModalRandomResizedCrop decodes JPEGs with '
                'simplejpeg: pip install simplejpeg') from err
        # validates and holds the crop settings (every loadable modality
        # has a default filter)
        self.crop = MultiModalRandomResizedCrop(size, scale, ratio,
                                                interpolations, max_attempts)

    @cache_randomness
    def _sample_box(self, height: int,
                    width: int) -> Tuple[int, int, int, int]:
        crop = self.crop
        return sample_crop_box(height, width, crop.scale, crop.ratio,
                               crop.max_attempts)

    def _crop_jpeg(self, opened: _Opened, box: Tuple[int, int, int, int],
                   size: Tuple[int, int], mode: str) -> np.ndarray:
        import simplejpeg
        try:
            rgb = simplejpeg.decode_jpeg(opened.data, colorspace='RGB')
        except ValueError as err:  # corrupt or truncated data
            raise opened.error(str(err)) from err
        if rgb.shape[:2] != opened.shape:
            raise opened.error(f'decoded {rgb.shape[:2]}, the header says '
                               f'{opened.shape}')
        if mode in _TORCH_FILTERS:
            return crop_resize_uint8(rgb, box, size, mode)
        return resized_crop(rgb, box, size, mode)

    def _crop_gray16(self, opened: _Opened, box: Tuple[int, int, int, int],
                     size: Tuple[int, int]) -> np.ndarray:
        raw = cv2.imdecode(
            np.frombuffer(opened.data, np.uint8), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.dtype != np.uint16 or \
                raw.shape != opened.shape:
            got = 'nothing' if raw is None else f'{raw.dtype} {raw.shape}'
            raise opened.error(f'OpenCV decoded {got}, expected uint16 '
                               f'{opened.shape}')
        rows, cols = nearest_indices(box, size)
        return raw[rows[:, None], cols].astype(np.float32) * \
            np.float32(self.depth_scale)

    def _crop(self, opened: _Opened, box: Tuple[int, int, int, int],
              size: Tuple[int, int]) -> np.ndarray:
        mod = opened.modality
        mode = self.crop.interpolations[mod]
        if opened.kind == 'jpeg':
            return self._crop_jpeg(opened, box, size, mode)
        if opened.kind == 'gray16' and mode == 'nearest':
            return self._crop_gray16(opened, box, size)
        img = opened.image or Image.open(BytesIO(opened.data))
        try:
            if mode == 'nearest' and mod == 'semseg' and \
                    img.mode in _LABEL_MODES:
                # the two-transform path resizes the decoded ids in the
                # same Pillow mode ('L' for 'P': the same code)
                out = img.resize((size[1], size[0]), Image.NEAREST, box=box)
                return _decode(mod, out, opened.path, self.depth_scale)
            array = _decode(mod, img, opened.path, self.depth_scale)
        except (OSError, SyntaxError) as err:
            raise opened.error(str(err)) from err
        finally:
            img.close()
        return resized_crop(array, box, size, mode)

    def transform(self, results: Dict) -> Optional[Dict]:
        """Read the headers, draw the box, decode and crop."""
        paths = self.sample_paths(results)
        try:
            opened = {m: _Opened(m, p) for m, p in paths.items()}
        except OSError as err:
            self.skip_sample(err)
            return None
        shapes = {m: f.shape for m, f in opened.items()}
        if len(set(shapes.values())) > 1:
            described = ', '.join(f'{m} {s}' for m, s in shapes.items())
            raise ValueError(f'{self.__class__.__name__}: modalities of one '
                             'sample must have the same height and width, '
                             f'got {described}{describe_sample(results)}')
        height, width = next(iter(shapes.values()))
        top, left, h, w = self._sample_box(height, width)
        box = (left, top, left + w, top + h)
        size = self.crop.size
        cropped = {}
        for mod, f in opened.items():
            try:
                cropped[mod] = self._crop(f, box, size)
            except (OSError, ValueError) as err:
                self.skip_sample(err)
                return None
        results.update(cropped)
        results['modalities'] = tuple(opened)
        results['ori_shape'] = (height, width)
        results['img_shape'] = size
        results['crop_bbox'] = box
        return results

    def __repr__(self) -> str:
        crop = self.crop
        return (f'{self.__class__.__name__}(modalities={self.modalities}, '
                f'optional_modalities={self.optional_modalities}, '
                f'depth_scale={self.depth_scale}, '
                f'on_error={self.on_error!r}, size={crop.size}, '
                f'scale={crop.scale}, ratio={crop.ratio}, '
                f'interpolations={crop.interpolations})')
