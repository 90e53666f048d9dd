# Copyright (c) mmmultimae contributors. All rights reserved.
"""Loading of aligned multi-modal images (rgb, depth, semseg, normal)."""
import logging
from typing import Dict, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from PIL import Image

from mmmultimae.registry import TRANSFORMS

#: Modalities the loader can decode, and how each is stored in ``results``.
LOADABLE_MODALITIES = ('rgb', 'depth', 'semseg', 'normal', 'mask_valid')

_DEPTH_MODES = ('I;16', 'I;16L', 'I;16B', 'I;16N', 'I', 'F')
# 16-bit label PNGs hold more than 256 classes
_LABEL_MODES = ('P', 'L', 'I;16', 'I;16L', 'I;16B', 'I')


def _decode(modality: str, img: Image.Image, path: str,
            depth_scale: float) -> np.ndarray:
    """Turn one opened image into the pipeline's array for ``modality``."""
    if modality in ('rgb', 'normal'):
        if img.mode != 'RGB':
            if modality == 'normal':
                raise ValueError(f"normal file '{path}' has PIL mode "
                                 f"{img.mode!r}; expected 'RGB'")
            img = img.convert('RGB')
        return np.array(img)
    if modality == 'depth':
        if img.mode not in _DEPTH_MODES:
            raise ValueError(
                f"depth file '{path}' has PIL mode {img.mode!r}; expected a "
                f'single-channel 16-bit, 32-bit or float image '
                f'({", ".join(_DEPTH_MODES)})')
        depth = np.asarray(img).astype(np.float32) * np.float32(depth_scale)
        bad = ~np.isfinite(depth)
        if bad.any():
            raise ValueError(f"depth file '{path}' has {int(bad.sum())} "
                             'non-finite (NaN/inf) pixels')
        return depth
    if modality == 'mask_valid':
        if img.mode not in ('1', 'L', 'P'):
            raise ValueError(
                f"mask_valid file '{path}' has PIL mode {img.mode!r}; "
                "expected a 1-bit or 8-bit image (255 = valid, 0 = invalid)")
        mask = np.array(img)
        if img.mode == '1':
            return mask
        bad = (mask != 0) & (mask != 255)
        if bad.any():
            raise ValueError(
                f"mask_valid file '{path}' has values "
                f'{np.unique(mask[bad])[:10].tolist()}; expected only 0 '
                '(invalid) and 255 (valid)')
        return mask == 255
    if img.mode not in _LABEL_MODES:
        raise ValueError(
            f"semseg file '{path}' has PIL mode {img.mode!r}; expected a "
            "palette ('P'), 8-bit ('L') or 16-bit label image")
    return np.array(img)


@TRANSFORMS.register_module()
class LoadMultiModalImages(BaseTransform):
    """Load the aligned images of one sample.

    Reads ``results['img_path'][mod]`` for each modality with PIL and
    stores ``results[mod]``:

    - ``rgb``: uint8 ``(H, W, 3)`` (any PIL mode, converted to RGB);
    - ``depth``: float32 ``(H, W)``, the raw value times ``depth_scale``
      (16-bit PNG or JPEG 2000, 32-bit or float TIFF);
    - ``semseg``: ``(H, W)`` class ids, uint8 from a palette or 8-bit
      image, uint16 from a 16-bit PNG (more than 255 classes, e.g. the
      pseudo-labels of ``tools/dataset_converters/pseudo_label.py``);
    - ``normal``: uint8 ``(H, W, 3)``, the file's ``(n + 1) / 2 * 255``
      code (decoded by :class:`PackMultiModalInputs`);
    - ``mask_valid``: bool ``(H, W)``, True where the 1-bit or 8-bit file is
      255 (valid depth / targets); other values than 0 and 255 are an
      error.

    mmseg-style samples (``img_path`` a string, ``seg_map_path``, e.g.
    mmseg's ``ADE20KDataset``) are read as ``rgb`` and ``semseg``.

    It also sets ``results['modalities']`` (tuple, in the given order) and
    ``ori_shape``/``img_shape`` (the first modality's ``(H, W)``).

    About ``depth_scale``: the official loader divides the 16-bit value by
    ``2**16`` (Omnidata codes map ``[0, 2**16)`` to ``[0, 128)`` m), which
    is the default here. Depth is standardised per image before the model,
    so the scale does not change training; the synthetic-scene configs set
    ``depth_scale=128 / 2**16`` so that depth is in metres.

    Args:
        modalities (Sequence[str]): Modalities to load, a subset of
            :data:`LOADABLE_MODALITIES`.
        optional_modalities (Sequence[str]): Modalities loaded only when the
            sample has a path for them (e.g. ``mask_valid``). Defaults to
            ().
        depth_scale (float): Factor applied to raw depth values.
            Defaults to ``2**-16``.
        on_error (str): ``'raise'`` (default) raises an error naming the
            file that cannot be read or decoded; ``'skip'`` logs it and
            returns None, so mmengine's dataset fetches another sample
            (train mode only). ``num_skipped`` counts the skips.
    """

    def __init__(self,
                 modalities: Sequence[str] = ('rgb', 'depth', 'semseg'),
                 optional_modalities: Sequence[str] = (),
                 depth_scale: float = 2**-16,
                 on_error: str = 'raise') -> None:
        unknown = [
            m for m in tuple(modalities) + tuple(optional_modalities)
            if m not in LOADABLE_MODALITIES
        ]
        if unknown or not modalities:
            raise ValueError(
                f'LoadMultiModalImages: modalities must be a non-empty '
                f'subset of {LOADABLE_MODALITIES}, got {tuple(modalities)} '
                f'and optional {tuple(optional_modalities)}')
        if on_error not in ('raise', 'skip'):
            raise ValueError(
                f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.modalities = tuple(modalities)
        self.optional_modalities = tuple(optional_modalities)
        self.depth_scale = float(depth_scale)
        self.on_error = on_error
        self.num_skipped = 0

    def _load(self, modality: str, path: str) -> np.ndarray:
        try:
            with Image.open(path) as img:
                return _decode(modality, img, path, self.depth_scale)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"{modality} file '{path}' does not exist") from err
        except (OSError, SyntaxError) as err:
            # PIL raises OSError (UnidentifiedImageError, truncated data)
            # and sometimes SyntaxError for broken headers
            raise OSError(
                f"cannot read {modality} file '{path}': {err}") from err

    def sample_paths(self, results: Dict) -> Dict[str, str]:
        """The paths of the modalities to load, in order (required ones,
        then the optional ones the sample has); an mmseg-style sample's
        ``img_path`` is turned into a dict in ``results``."""
        paths = results.get('img_path')
        if isinstance(paths, str):  # an mmseg dataset's sample
            paths = dict(rgb=paths)
            if results.get('seg_map_path'):
                paths['semseg'] = results['seg_map_path']
            results['img_path'] = paths
        if not isinstance(paths, dict):
            raise TypeError(
                "LoadMultiModalImages expects results['img_path'] to be a "
                f'dict modality -> path, got {type(paths).__name__}')
        missing = [m for m in self.modalities if m not in paths]
        if missing:
            raise KeyError(
                f'LoadMultiModalImages: no path for modalities {missing} '
                f'(sample has {sorted(paths)})')
        wanted = self.modalities + tuple(
            m for m in self.optional_modalities if m in paths)
        return {m: paths[m] for m in wanted}

    def skip_sample(self, err: Exception) -> None:
        """Raise ``err``, or (``on_error='skip'``) count and log it."""
        if self.on_error == 'raise':
            raise err
        self.num_skipped += 1
        print_log(
            f'{self.__class__.__name__}: skipped a sample ({err}); '
            f'{self.num_skipped} skipped so far in this process',
            logger='current',
            level=logging.WARNING)

    def transform(self, results: Dict) -> Optional[Dict]:
        """Load every modality of ``results['img_path']``."""
        paths = self.sample_paths(results)
        wanted = tuple(paths)
        loaded = {}
        for mod in wanted:
            try:
                loaded[mod] = self._load(mod, paths[mod])
            except (OSError, ValueError) as err:
                self.skip_sample(err)
                return None
        results.update(loaded)
        results['modalities'] = wanted
        shape = loaded[self.modalities[0]].shape[:2]
        results['ori_shape'] = results['img_shape'] = shape
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(modalities={self.modalities}, '
                f'optional_modalities={self.optional_modalities}, '
                f'depth_scale={self.depth_scale}, '
                f'on_error={self.on_error!r})')
