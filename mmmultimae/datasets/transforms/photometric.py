# Copyright (c) mmmultimae contributors. All rights reserved.
"""Photometric augmentation of the rgb modality of a multi-modal sample.

The colour operations are torchvision's (``ColorJitter``, ``Grayscale``),
applied to the uint8 rgb array only: depth, labels and masks are not
images to recolour. The wrappers add the probability of the official
albumentations pipelines and the multi-modal sample layout.
"""
from typing import Dict, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from torchvision.transforms import v2

from mmmultimae.registry import TRANSFORMS


def _apply_to_rgb(results: Dict, keys: Sequence[str], op) -> Dict:
    for key in keys:
        if key not in results:
            continue
        array = results[key]
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f'{key} must be a uint8 (H, W, 3) image, got '
                             f'{array.dtype} {array.shape}')
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        out = op(tensor.permute(2, 0, 1)).permute(1, 2, 0)
        results[key] = np.ascontiguousarray(out.numpy())
    return results


@TRANSFORMS.register_module()
class MultiModalColorJitter(BaseTransform):
    """With probability ``prob``, jitter brightness, contrast, saturation
    and hue of the rgb modality (torchvision's ``ColorJitter``, random order;
    official MultiMAE: 0.4, 0.4, 0.2, 0.1, p=0.5 for segmentation, 0.1255,
    0.4, 0.5, 0.2 for NYUv2 depth).

    Args:
        brightness (float): Factor range ``[1 - b, 1 + b]``.
        contrast (float): Factor range ``[1 - c, 1 + c]``.
        saturation (float): Factor range ``[1 - s, 1 + s]``.
        hue (float): Shift range ``[-h, h]``.
        prob (float): Probability to apply. Defaults to 0.5.
        keys (Sequence[str]): Modalities to jitter. Defaults to
            ``('rgb',)``.
    """

    def __init__(self,
                 brightness: float = 0.4,
                 contrast: float = 0.4,
                 saturation: float = 0.2,
                 hue: float = 0.1,
                 prob: float = 0.5,
                 keys: Sequence[str] = ('rgb', )) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.jitter = v2.ColorJitter(brightness, contrast, saturation, hue)
        self.prob = prob
        self.keys = tuple(keys)

    @cache_randomness
    def _decide(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: Dict) -> Dict:
        """Jitter the rgb modality (or not)."""
        if not self._decide():
            return results
        return _apply_to_rgb(results, self.keys, self.jitter)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({self.jitter!r}, prob={self.prob}, '
                f'keys={self.keys})')


@TRANSFORMS.register_module()
class MultiModalRandomGrayscale(BaseTransform):
    """With probability ``prob``, turn the rgb modality grey (3 equal
    channels; official NYUv2 depth: p=0.3).

    Args:
        prob (float): Probability. Defaults to 0.3.
        keys (Sequence[str]): Modalities. Defaults to ``('rgb',)``.
    """

    def __init__(self, prob: float = 0.3, keys: Sequence[str] = ('rgb', )):
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.gray = v2.Grayscale(num_output_channels=3)
        self.prob = prob
        self.keys = tuple(keys)

    @cache_randomness
    def _decide(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: Dict) -> Dict:
        """Turn the rgb modality grey (or not)."""
        if not self._decide():
            return results
        return _apply_to_rgb(results, self.keys, self.gray)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob}, keys={self.keys})'
