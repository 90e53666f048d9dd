# Copyright (c) mmmultimae contributors. All rights reserved.
"""ImageNet-C corruptions applied on the fly to any dataset.

The corruption functions are those of the ``imagecorruptions`` package
(the code of Hendrycks & Dietterich's ImageNet-C, packaged by Michaelis et
al.), as maintained in the ``imagecorruptions-imaug`` fork: the original
``imagecorruptions==1.1.2`` (2020) fails on current numpy / scikit-image
for ``glass_blur`` and ``gaussian_blur`` (scikit-image removed
``multichannel``) and ``fog`` (numpy 2 removed ``np.float_``); the fork
fixes these (and compiles ``glass_blur``'s pixel shuffling with numba) and
keeps the severity parameters. All 15 benchmark corruptions and the 4
held-out ones run (``tests/test_datasets/test_corruptions.py``).

The package draws from numpy's global random state (and, for
``glass_blur`` and ``impulse_noise``, from an explicit seed). Here every
call runs under a seed of its own, with the global state saved and
restored, so a corrupted sample is reproducible and the rest of the
pipeline's randomness is untouched.
"""
from typing import Dict, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from mmmultimae.registry import TRANSFORMS

#: The 15 corruptions of the ImageNet-C benchmark (mCE), in its order:
#: noise, blur, weather, digital.
COMMON_CORRUPTIONS = ('gaussian_noise', 'shot_noise', 'impulse_noise',
                      'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur',
                      'snow', 'frost', 'fog', 'brightness', 'contrast',
                      'elastic_transform', 'pixelate', 'jpeg_compression')

#: The 4 held-out ("validation") corruptions of ImageNet-C.
EXTRA_CORRUPTIONS = ('speckle_noise', 'gaussian_blur', 'spatter', 'saturate')

ALL_CORRUPTIONS = COMMON_CORRUPTIONS + EXTRA_CORRUPTIONS

#: Corruptions of the package that take an explicit ``seed`` argument.
_SEEDED = ('glass_blur', 'impulse_noise')

#: imagecorruptions refuses smaller images.
MIN_SIZE = 32


def _corrupt_fn():
    try:
        from imagecorruptions import corrupt
    except ImportError as err:
        raise ImportError(
            'image corruptions need the imagecorruptions package: '
            'pip install imagecorruptions-imaug==1.1.5') from err
    return corrupt


def check_corruption(corruption: str, severity: int) -> None:
    """Raise a ValueError for an unknown corruption or a severity not in
    1..5."""
    if corruption not in ALL_CORRUPTIONS:
        raise ValueError(f'unknown corruption {corruption!r}; expected one '
                         f'of {ALL_CORRUPTIONS}')
    if severity not in (1, 2, 3, 4, 5) or isinstance(severity, bool):
        raise ValueError(
            f'severity must be an integer in 1..5, got {severity!r}')


def corrupt_image(image: np.ndarray,
                  corruption: str,
                  severity: int,
                  seed: int,
                  channel_order: str = 'rgb') -> np.ndarray:
    """Apply one ImageNet-C corruption to an image.

    Args:
        image (np.ndarray): uint8 ``(H, W, 3)``, ``H, W >= 32``.
        corruption (str): One of :data:`ALL_CORRUPTIONS`.
        severity (int): 1..5.
        seed (int): Seed of the corruption's randomness (any int; used
            modulo 2**32).
        channel_order (str): ``'rgb'`` or ``'bgr'`` (mmcv's loaders); the
            package works on RGB (frost, snow and spatter are coloured).

    Returns:
        np.ndarray: The corrupted uint8 ``(H, W, 3)`` image.
    """
    check_corruption(corruption, severity)
    if channel_order not in ('rgb', 'bgr'):
        raise ValueError(
            f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError('corruptions need a uint8 (H, W, 3) image, got '
                         f'{image.dtype} {image.shape}')
    if min(image.shape[:2]) < MIN_SIZE:
        raise ValueError(f'corruptions need images of at least {MIN_SIZE} '
                         f'px, got {image.shape[:2]}')
    corrupt = _corrupt_fn()
    rgb = image[..., ::-1] if channel_order == 'bgr' else image
    seed = int(seed) % 2**32
    kwargs = dict(seed=seed) if corruption in _SEEDED else {}
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        out = corrupt(
            np.ascontiguousarray(rgb),
            severity=severity,
            corruption_name=corruption,
            **kwargs)
    finally:
        np.random.set_state(state)
    if out.shape != image.shape:
        raise RuntimeError(f'{corruption} returned shape {out.shape} for an '
                           f'image of shape {image.shape}')
    if channel_order == 'bgr':
        out = out[..., ::-1]
    return np.ascontiguousarray(out, dtype=np.uint8)


@TRANSFORMS.register_module()
class ImageCorruption(BaseTransform):
    """Corrupt the image of a sample with an ImageNet-C corruption.

    Works on mmpretrain / mmcv samples (``results['img']``, BGR as mmcv
    loads it) and on our multi-modal samples (``results['rgb']``, RGB; depth,
    labels and masks are left as they are). It records ``corruption`` and
    ``severity`` in ``results`` (add them to the packer's ``meta_keys`` for
    :class:`~mmmultimae.evaluation.MeanCorruptionError`).

    ImageNet-C corrupts 224 x 224 centre crops, so place the transform after
    the test-time resize and crop (right before packing) to match it.

    Randomness: with ``seed=None`` each call draws its seed from numpy's
    global state (seeded by mmengine's ``randomness``); with a ``seed``, the
    corruption of a sample depends only on ``(seed, corruption, severity,
    results['sample_idx'])``, whatever the loading order and the workers.

    Args:
        corruption (str): One of the 15 benchmark corruptions
            (:data:`COMMON_CORRUPTIONS`) or the 4 extra ones
            (:data:`EXTRA_CORRUPTIONS`).
        severity (int): 1..5. Defaults to 3.
        keys (Sequence[str], optional): Keys of the images to corrupt. By
            default ``('rgb',)`` for multi-modal samples (with
            ``results['modalities']``), else ``('img',)``.
        channel_order (str, optional): ``'rgb'`` or ``'bgr'``; by default
            RGB for the ``rgb`` key and BGR for the others (mmcv's
            ``LoadImageFromFile`` convention).
        seed (int, optional): Seed of per-sample corruptions (see above).
    """

    def __init__(self,
                 corruption: str,
                 severity: int = 3,
                 keys: Optional[Sequence[str]] = None,
                 channel_order: Optional[str] = None,
                 seed: Optional[int] = None) -> None:
        check_corruption(corruption, severity)
        if channel_order not in (None, 'rgb', 'bgr'):
            raise ValueError(f"channel_order must be None, 'rgb' or 'bgr', "
                             f'got {channel_order!r}')
        _corrupt_fn()  # fail at build time when the package is missing
        self.corruption = corruption
        self.severity = int(severity)
        self.keys = tuple(keys) if keys is not None else None
        self.channel_order = channel_order
        self.seed = seed

    def _keys(self, results: Dict) -> Sequence[str]:
        if self.keys is not None:
            return self.keys
        return ('rgb', ) if 'modalities' in results else ('img', )

    def _seeds(self, results: Dict, num: int) -> Sequence[int]:
        if self.seed is None:
            return [int(s) for s in np.random.randint(0, 2**31, size=num)]
        if 'sample_idx' not in results:
            raise KeyError(
                'ImageCorruption with a seed needs results["sample_idx"] '
                "(set by mmengine's BaseDataset) to seed each sample")
        entropy = [
            int(self.seed),
            ALL_CORRUPTIONS.index(self.corruption), self.severity,
            int(results['sample_idx'])
        ]
        state = np.random.SeedSequence(entropy).generate_state(num)
        return [int(s) for s in state]

    def transform(self, results: Dict) -> Dict:
        """Corrupt the sample's image(s)."""
        keys = self._keys(results)
        missing = [k for k in keys if k not in results]
        if missing:
            raise KeyError(f'ImageCorruption: the sample has no {missing} '
                           f'(it has {sorted(results)})')
        for key, seed in zip(keys, self._seeds(results, len(keys))):
            order = self.channel_order or ('rgb' if key == 'rgb' else 'bgr')
            try:
                results[key] = corrupt_image(results[key], self.corruption,
                                             self.severity, seed, order)
            except ValueError as err:
                raise ValueError(f'ImageCorruption on {key!r} of '
                                 f"{results.get('img_path')!r}: "
                                 f'{err}') from err
        results['corruption'] = self.corruption
        results['severity'] = self.severity
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(corruption={self.corruption!r}, '
                f'severity={self.severity}, keys={self.keys}, '
                f'channel_order={self.channel_order!r}, seed={self.seed})')
