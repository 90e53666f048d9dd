# Copyright (c) mmmultimae contributors. All rights reserved.
"""Resizing, padding and cropping of every modality of a sample (dense
transfers: large-scale jittering in training, resizing at test time).

mmseg's ``RandomResize`` / ``Pad`` / ``RandomCrop`` move one ``img`` and
label maps with one interpolation and one pad value; multi-modal samples
need one geometry for any set of modalities, each with its own filter and
pad value, and padded pixels marked invalid for depth standardisation and
regression losses (``mask_valid``), so these are written here. Resizing
reuses :func:`resized_crop` (PIL, per-modality filter).
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.image import rescale_size
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmmultimae.registry import TRANSFORMS
from .processing import (DEFAULT_INTERPOLATIONS, LABEL_MODALITIES,
                         check_same_size, get_modalities, resized_crop)

#: Pad value per modality: official MultiMAE pads rgb with grey 128 and
#: labels with an ignored id; depth and normals with 0 (invalid anyway).
DEFAULT_PAD_VALUES = dict(
    rgb=128, depth=0., semseg=255, normal=0, mask_valid=False)


def _interpolations(overrides: Optional[Dict[str, str]]) -> Dict[str, str]:
    out = dict(DEFAULT_INTERPOLATIONS)
    out.update(overrides or {})
    for mod in LABEL_MODALITIES:
        if out[mod] != 'nearest':
            raise ValueError(f'{mod!r} holds labels and must be resized with '
                             f"'nearest', got {out[mod]!r}")
    return out


def resize_sample(results: Dict, size: Tuple[int, int],
                  interpolations: Dict[str, str],
                  modalities: Sequence[str]) -> Dict:
    """Resize the listed modalities of a sample to ``size = (h, w)``.

    Updates ``img_shape`` and ``scale_factor`` (``(w_scale, h_scale)``, as
    mmseg).
    """
    height, width = check_same_size(results, modalities, 'resize')
    missing = [m for m in modalities if m not in interpolations]
    if missing:
        raise KeyError(f'no interpolation configured for modalities '
                       f'{missing}')
    for mod in modalities:
        results[mod] = resized_crop(results[mod], (0, 0, width, height), size,
                                    interpolations[mod])
    results['img_shape'] = tuple(size)
    results['scale_factor'] = (size[1] / width, size[0] / height)
    return results


@TRANSFORMS.register_module()
class MultiModalRandomResize(BaseTransform):
    """Resize so that the longest side is ``scale`` times a random ratio
    (large-scale jittering, Ghiasi et al.; official MultiMAE's
    ``LongestMaxSize(scale)`` followed by ``RandomScale`` in one resize).

    Args:
        scale (int): Longest side before the random ratio (the training
            size, e.g. 512).
        ratio_range (tuple[float, float]): Range of the uniform random
            ratio. Defaults to ``(0.1, 2.0)`` (official LSJ).
        interpolations (dict, optional): Filter per modality, updating
            :data:`DEFAULT_INTERPOLATIONS` (label maps must be nearest).
    """

    def __init__(self,
                 scale: int,
                 ratio_range: Tuple[float, float] = (0.1, 2.0),
                 interpolations: Optional[Dict[str, str]] = None) -> None:
        if scale < 1 or not 0 < ratio_range[0] <= ratio_range[1]:
            raise ValueError(f'scale must be >= 1 and 0 < ratio_range[0] <= '
                             f'ratio_range[1], got {scale}, {ratio_range}')
        self.scale = int(scale)
        self.ratio_range = tuple(ratio_range)
        self.interpolations = _interpolations(interpolations)

    @cache_randomness
    def _ratio(self) -> float:
        return float(np.random.uniform(*self.ratio_range))

    def transform(self, results: Dict) -> Dict:
        """Resize every modality with one random ratio."""
        modalities = get_modalities(results, type(self).__name__)
        height, width = check_same_size(results, modalities,
                                        type(self).__name__)
        factor = self.scale * self._ratio() / max(height, width)
        size = (max(1, int(round(height * factor))),
                max(1, int(round(width * factor))))
        return resize_sample(results, size, self.interpolations, modalities)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, '
                f'ratio_range={self.ratio_range})')


@TRANSFORMS.register_module()
class MultiModalResize(BaseTransform):
    """Resize keeping the aspect ratio to fit ``scale`` (mmcv's rule: the
    long side at most ``max(scale)``, the short side at most
    ``min(scale)``), e.g. ``(2048, 512)`` for mmseg's ADE20K test or
    ``(10000, 256)`` for NYUv2 depth's 640x480 -> 341x256.

    Args:
        scale (int | tuple[int, int]): Target scale.
        modalities (Sequence[str], optional): Modalities to resize (e.g. the
            inputs only, keeping targets at the original size); defaults to
            all of the sample.
        interpolations (dict, optional): Filter per modality.
    """

    def __init__(self,
                 scale: Union[int, Tuple[int, int]],
                 modalities: Optional[Sequence[str]] = None,
                 interpolations: Optional[Dict[str, str]] = None) -> None:
        self.scale = (scale, scale) if isinstance(scale, int) else tuple(scale)
        self.modalities = tuple(modalities) if modalities else None
        self.interpolations = _interpolations(interpolations)

    def transform(self, results: Dict) -> Dict:
        """Resize the modalities."""
        modalities = self.modalities or get_modalities(
            results, type(self).__name__)
        height, width = check_same_size(results, modalities,
                                        type(self).__name__)
        new_w, new_h = rescale_size((width, height), self.scale)
        return resize_sample(results, (new_h, new_w), self.interpolations,
                             modalities)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, '
                f'modalities={self.modalities})')


@TRANSFORMS.register_module()
class MultiModalPad(BaseTransform):
    """Pad every modality at the bottom and right to at least ``size``.

    Padded pixels are marked invalid in ``mask_valid`` (created if the
    sample has none, when ``mark_invalid``), so that they enter neither the
    depth standardisation nor regression losses and metrics; labels are
    padded with the ignored id 255.

    Args:
        size (int | tuple[int, int]): Minimum ``(h, w)``.
        pad_values (dict, optional): Pad value per modality, updating
            :data:`DEFAULT_PAD_VALUES`.
        mark_invalid (bool): Maintain ``mask_valid``. Defaults to True.
    """

    def __init__(self,
                 size: Union[int, Tuple[int, int]],
                 pad_values: Optional[Dict[str, Union[int, float]]] = None,
                 mark_invalid: bool = True) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.pad_values = dict(DEFAULT_PAD_VALUES)
        self.pad_values.update(pad_values or {})
        self.mark_invalid = mark_invalid

    def transform(self, results: Dict) -> Dict:
        """Pad the modalities (and ``mask_valid``)."""
        modalities = list(get_modalities(results, type(self).__name__))
        height, width = check_same_size(results, modalities,
                                        type(self).__name__)
        if self.mark_invalid and 'mask_valid' not in modalities:
            results['mask_valid'] = np.ones((height, width), bool)
            modalities.append('mask_valid')
            results['modalities'] = tuple(modalities)
        bottom = max(self.size[0] - height, 0)
        right = max(self.size[1] - width, 0)
        for mod in modalities:
            if mod not in self.pad_values:
                raise KeyError(f'{type(self).__name__}: no pad value for '
                               f'modality {mod!r}')
            array = results[mod]
            widths = ((0, bottom), (0, right)) + ((0, 0), ) * (array.ndim - 2)
            results[mod] = np.pad(
                array, widths, constant_values=self.pad_values[mod])
        results['pad_shape'] = (height + bottom, width + right)
        results['img_shape'] = results['pad_shape']
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, '
                f'pad_values={self.pad_values}, '
                f'mark_invalid={self.mark_invalid})')


@TRANSFORMS.register_module()
class MultiModalRandomCrop(BaseTransform):
    """One random ``size`` crop shared by all modalities (the sample must
    be at least that large: pad first).

    Args:
        size (int | tuple[int, int]): Crop ``(h, w)``.
        center (bool): Take the central crop instead (deterministic, for
            test pipelines such as NYUv2 depth's). Defaults to False.
    """

    def __init__(self,
                 size: Union[int, Tuple[int, int]],
                 center: bool = False) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.center = center

    @cache_randomness
    def _offset(self, slack_h: int, slack_w: int) -> Tuple[int, int]:
        return (int(np.random.randint(0, slack_h + 1)),
                int(np.random.randint(0, slack_w + 1)))

    def transform(self, results: Dict) -> Dict:
        """Crop every modality."""
        modalities = get_modalities(results, type(self).__name__)
        height, width = check_same_size(results, modalities,
                                        type(self).__name__)
        slack_h, slack_w = height - self.size[0], width - self.size[1]
        if slack_h < 0 or slack_w < 0:
            raise ValueError(
                f'{type(self).__name__}: sample of size {(height, width)} '
                f'is smaller than the crop {self.size}; pad it first '
                '(MultiModalPad)')
        if self.center:
            top, left = slack_h // 2, slack_w // 2
        else:
            top, left = self._offset(slack_h, slack_w)
        for mod in modalities:
            results[mod] = np.ascontiguousarray(
                results[mod][top:top + self.size[0],
                             left:left + self.size[1]])
        results['crop_bbox'] = (left, top, left + self.size[1],
                                top + self.size[0])
        results['img_shape'] = self.size
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, '
                f'center={self.center})')
