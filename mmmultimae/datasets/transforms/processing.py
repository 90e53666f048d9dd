# Copyright (c) mmmultimae contributors. All rights reserved.
"""Geometric transforms applied identically to every modality of a sample.

mmcv's ``RandomResize``/``RandomFlip`` and mmseg's ``RandomCrop`` move one
``img`` plus ``seg_fields`` with a single interpolation for all label maps;
MultiMAE needs one random-resized-crop box and one flip decision shared by
any set of modalities, each resized with its own filter, so these are
written here. Resizing uses PIL (as the official implementation does): its
filters antialias when downscaling, and it runs on uint8/float32 buffers
without per-pixel Python.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from PIL import Image

from mmmultimae.registry import TRANSFORMS

_PIL_FILTERS = dict(
    nearest=Image.NEAREST,
    bilinear=Image.BILINEAR,
    bicubic=Image.BICUBIC,
    lanczos=Image.LANCZOS,
    box=Image.BOX)

#: Default filter per modality. RGB is bicubic (PIL's default, as in the
#: official code). Depth is nearest, which is what the official pipeline
#: gets for 16-bit PNGs (PIL resizes 'I;16' images with nearest): it never
#: invents depths between a foreground and a background surface. Label maps
#: and normal codes are nearest too.
DEFAULT_INTERPOLATIONS = dict(
    rgb='bicubic',
    depth='nearest',
    semseg='nearest',
    normal='nearest',
    mask_valid='nearest')

#: Modalities whose values are categorical (only 'nearest' is valid).
LABEL_MODALITIES = ('semseg', 'mask_valid')


def get_modalities(results: Dict, name: str) -> Tuple[str, ...]:
    """The ``results['modalities']`` of a loaded sample.

    Raises:
        KeyError: If the sample was not produced by a multi-modal loader.
    """
    if 'modalities' not in results:
        raise KeyError(
            f"{name}: results has no 'modalities'; load samples with "
            'LoadMultiModalImages (or use SyntheticScenes) first')
    return tuple(results['modalities'])


def describe_sample(results: Dict) -> str:
    """The files of a sample, for error messages: ``" (files: rgb 'a.jpg',
    depth 'a.png')"``, or ``''`` when the sample has no paths."""
    paths = results.get('img_path')
    if isinstance(paths, dict) and paths:
        listed = ', '.join(f'{m} {p!r}' for m, p in paths.items())
        return f' (files: {listed})'
    if isinstance(paths, str):
        return f' (file: {paths!r})'
    return ''


def check_same_size(results: Dict, modalities: Sequence[str],
                    name: str) -> Tuple[int, int]:
    """Common ``(H, W)`` of the modalities of a sample.

    Raises:
        KeyError: If a modality is missing from ``results``.
        ValueError: If the spatial sizes differ (message lists each
            modality with its shape and the sample's files).
    """
    missing = [m for m in modalities if m not in results]
    if missing:
        raise KeyError(f'{name}: modalities {missing} are listed in '
                       "results['modalities'] but not loaded"
                       f'{describe_sample(results)}')
    sizes = {m: tuple(results[m].shape[:2]) for m in modalities}
    if len(set(sizes.values())) > 1:
        described = ', '.join(f'{m} {tuple(results[m].shape)}'
                              for m in modalities)
        raise ValueError(f'{name}: modalities of one sample must have the '
                         f'same height and width, got {described}'
                         f'{describe_sample(results)}')
    return next(iter(sizes.values()))


def sample_crop_box(height: int,
                    width: int,
                    scale: Tuple[float, float] = (0.2, 1.0),
                    ratio: Tuple[float, float] = (3 / 4, 4 / 3),
                    max_attempts: int = 10) -> Tuple[int, int, int, int]:
    """Sample a random-resized-crop box (``np.random``).

    The same procedure as torchvision's ``RandomResizedCrop.get_params``:
    up to ``max_attempts`` draws of an area fraction (uniform in
    ``scale``) and a log-uniform aspect ratio (in ``ratio``) that fit in
    the image at a uniform position; otherwise the largest central crop
    with the ratio clamped to ``ratio``.

    Args:
        height (int): Image height.
        width (int): Image width.
        scale (tuple[float, float]): Range of the crop area fraction.
        ratio (tuple[float, float]): Range of the crop aspect ratio
            ``w / h``.
        max_attempts (int): Random draws before the central fallback.

    Returns:
        tuple[int, int, int, int]: ``(top, left, h, w)``.
    """
    area = height * width
    log_ratio = np.log(ratio)
    for _ in range(max_attempts):
        target_area = area * np.random.uniform(scale[0], scale[1])
        aspect = np.exp(np.random.uniform(log_ratio[0], log_ratio[1]))
        w = int(round(np.sqrt(target_area * aspect)))
        h = int(round(np.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(np.random.randint(0, height - h + 1))
            left = int(np.random.randint(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def resized_crop(array: np.ndarray, box: Tuple[int, int, int, int],
                 size: Tuple[int, int], interpolation: str) -> np.ndarray:
    """Crop ``box`` from an image array and resize it with PIL.

    Args:
        array (np.ndarray): uint8 ``(H, W)``/``(H, W, 3)``, float32, bool,
            or uint16 / int32 ``(H, W)`` (label maps of more than 256
            classes, read from 16-bit PNGs).
        box (tuple[int, int, int, int]): ``(x1, y1, x2, y2)`` in pixels
            (``x2``/``y2`` exclusive).
        size (tuple[int, int]): Output ``(h, w)``.
        interpolation (str): One of ``nearest``, ``bilinear``, ``bicubic``,
            ``lanczos``, ``box``.

    Returns:
        np.ndarray: ``(h, w[, 3])`` array of the input dtype.
    """
    if array.dtype == np.bool_:
        return resized_crop(array.view(np.uint8), box, size,
                            interpolation).astype(bool)
    if array.dtype not in (np.uint8, np.uint16, np.int32, np.float32):
        raise TypeError(f'resized_crop supports uint8, uint16, int32, '
                        f'float32 and bool arrays, got {array.dtype}')
    img = Image.fromarray(array)
    out = img.resize((size[1], size[0]), _PIL_FILTERS[interpolation], box=box)
    return np.array(out)


def _to_hw(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(size, int):
        return size, size
    if len(size) != 2:
        raise ValueError(f'size must be an int or (h, w), got {size!r}')
    return int(size[0]), int(size[1])


@TRANSFORMS.register_module()
class MultiModalRandomResizedCrop(BaseTransform):
    """One random resized crop shared by all modalities of a sample.

    Required keys: ``modalities`` and each listed modality (arrays of the
    same height and width). Modified keys: the modalities, ``img_shape``.
    Added keys: ``crop_bbox`` (``(x1, y1, x2, y2)`` in input pixels).

    Args:
        size (int | tuple[int, int]): Output ``(h, w)``. Defaults to 224.
        scale (tuple[float, float]): Crop area fraction range.
            Defaults to ``(0.2, 1.0)``.
        ratio (tuple[float, float]): Crop aspect ratio range.
            Defaults to ``(3/4, 4/3)``.
        interpolations (dict, optional): Filter per modality, updating
            :data:`DEFAULT_INTERPOLATIONS` (``nearest``, ``bilinear``,
            ``bicubic``, ``lanczos`` or ``box``; label maps must use
            ``nearest``).
        max_attempts (int): Draws before the central-crop fallback.
    """

    def __init__(self,
                 size: Union[int, Sequence[int]] = 224,
                 scale: Tuple[float, float] = (0.2, 1.0),
                 ratio: Tuple[float, float] = (3 / 4, 4 / 3),
                 interpolations: Optional[Dict[str, str]] = None,
                 max_attempts: int = 10) -> None:
        self.size = _to_hw(size)
        if not (0 < scale[0] <= scale[1] <= 1):
            raise ValueError(f'scale must satisfy 0 < min <= max <= 1, got '
                             f'{scale}')
        if not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f'ratio must satisfy 0 < min <= max, got '
                             f'{ratio}')
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.interpolations = dict(DEFAULT_INTERPOLATIONS)
        self.interpolations.update(interpolations or {})
        for mod, mode in self.interpolations.items():
            if mode not in _PIL_FILTERS:
                raise ValueError(f'interpolation of {mod!r} must be one of '
                                 f'{tuple(_PIL_FILTERS)}, got {mode!r}')
            if mod in LABEL_MODALITIES and mode != 'nearest':
                raise ValueError(f'{mod!r} holds labels and must be resized '
                                 f"with 'nearest', got {mode!r}")
        self.max_attempts = max_attempts

    @cache_randomness
    def _sample_box(self, height: int,
                    width: int) -> Tuple[int, int, int, int]:
        return sample_crop_box(height, width, self.scale, self.ratio,
                               self.max_attempts)

    def transform(self, results: Dict) -> Dict:
        """Crop and resize every modality with one box."""
        modalities = get_modalities(results, self.__class__.__name__)
        unknown = [m for m in modalities if m not in self.interpolations]
        if unknown:
            raise KeyError(f'MultiModalRandomResizedCrop: no interpolation '
                           f'configured for modalities {unknown}')
        height, width = check_same_size(results, modalities,
                                        self.__class__.__name__)
        top, left, h, w = self._sample_box(height, width)
        box = (left, top, left + w, top + h)
        for mod in modalities:
            results[mod] = resized_crop(results[mod], box, self.size,
                                        self.interpolations[mod])
        results['crop_bbox'] = box
        results['img_shape'] = self.size
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, '
                f'scale={self.scale}, ratio={self.ratio}, '
                f'interpolations={self.interpolations})')


@TRANSFORMS.register_module()
class MultiModalRandomFlip(BaseTransform):
    """One horizontal flip decision shared by all modalities of a sample.

    Normal maps also get their x component negated (for the uint8 file
    code ``c = (n + 1) / 2 * 255`` that is ``255 - c``; float normals are
    negated).

    Required keys: ``modalities`` and the listed modalities. Modified keys:
    the modalities. Added keys: ``flip`` (bool), ``flip_direction``
    (``'horizontal'`` or None).

    Args:
        prob (float): Flip probability. Defaults to 0.5.
        normal_keys (Sequence[str]): Modalities holding surface normals.
            Defaults to ``('normal',)``.
    """

    def __init__(self,
                 prob: float = 0.5,
                 normal_keys: Sequence[str] = ('normal', )) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob
        self.normal_keys = tuple(normal_keys)

    @cache_randomness
    def _decide(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: Dict) -> Dict:
        """Flip every modality, or none."""
        flip = self._decide()
        modalities = get_modalities(results, self.__class__.__name__)
        if flip:
            for mod in modalities:
                array = np.ascontiguousarray(results[mod][:, ::-1])
                if mod in self.normal_keys:
                    if array.dtype == np.uint8:
                        array[..., 0] = 255 - array[..., 0]
                    else:
                        array[..., 0] = -array[..., 0]
                results[mod] = array
        results['flip'] = flip
        results['flip_direction'] = 'horizontal' if flip else None
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'normal_keys={self.normal_keys})')


@TRANSFORMS.register_module()
class DownsampleLabels(BaseTransform):
    """Downsample label maps by an integer factor as PIL nearest does.

    MultiMAE feeds semseg at 1/4 resolution: the official pipeline resizes
    the cropped 224 map to 56 with PIL nearest, i.e. it keeps pixel
    ``(4 i + 2, 4 j + 2)``; this transform does the same. Modalities in
    ``keys`` that the sample does not have are left alone.

    Args:
        keys (Sequence[str]): Label modalities. Defaults to
            ``('semseg',)``.
        factor (int): Downsampling factor; it must divide the map size.
            Defaults to 4.
    """

    def __init__(self,
                 keys: Sequence[str] = ('semseg', ),
                 factor: int = 4) -> None:
        if factor < 1:
            raise ValueError(f'factor must be >= 1, got {factor}')
        self.keys = tuple(keys)
        self.factor = int(factor)

    def transform(self, results: Dict) -> Dict:
        """Downsample the label maps present in the sample."""
        modalities = get_modalities(results, self.__class__.__name__)
        for key in self.keys:
            if key not in modalities:
                continue
            labels = results[key]
            height, width = labels.shape[:2]
            if height % self.factor or width % self.factor:
                raise ValueError(
                    f'DownsampleLabels: {key} map of shape {labels.shape} '
                    f'is not divisible by factor {self.factor}')
            # PIL's nearest resize by an integer factor f picks pixel
            # f * i + f // 2 (exact in floating point): slicing is the same
            # selection, ~10x cheaper
            half = self.factor // 2
            results[key] = np.ascontiguousarray(
                labels[half::self.factor, half::self.factor])
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(keys={self.keys}, '
                f'factor={self.factor})')
