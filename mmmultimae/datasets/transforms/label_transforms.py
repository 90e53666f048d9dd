# Copyright (c) mmmultimae contributors. All rights reserved.
"""Semantic-segmentation label adaptation (zero-label reduction, void)."""
from typing import Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform

from mmmultimae.registry import TRANSFORMS


def adapt_seg_labels(labels: np.ndarray,
                     num_classes: int,
                     reduce_zero_label: bool = False,
                     use_void_label: bool = False,
                     pad_value: Optional[int] = 254,
                     ignore_index: int = 255) -> np.ndarray:
    """Reduce the zero label and map padded pixels to ignore or void.

    The semantics of official MultiMAE's ``seg_adapt_labels`` (semseg
    fine-tuning), written without its in-place two-step shuffle:

    - with ``reduce_zero_label``, label 0 becomes ``ignore_index`` and every
      other label ``x`` becomes ``x - 1`` (``ignore_index`` stays);
    - pixels equal to ``pad_value`` (the value the padding wrote) become
      the void class ``num_classes`` with ``use_void_label``, otherwise
      ``ignore_index``.

    ``num_classes`` counts the classes after the reduction, so the void
    class is always ``num_classes``. The input is not modified.

    Args:
        labels (np.ndarray): Integer label map ``(H, W)``.
        num_classes (int): Number of classes ``K`` (after reduction).
        reduce_zero_label (bool): Drop label 0 and shift the others down.
            Defaults to False.
        use_void_label (bool): Padded pixels become class ``K`` (a head
            with ``K + 1`` outputs learns them) instead of ignored.
            Defaults to False.
        pad_value (int, optional): Label value of padded pixels (official:
            254, albumentations' pad value). None: no pixel is padding.
            Defaults to 254.
        ignore_index (int): The ignored label. Defaults to 255.

    Returns:
        np.ndarray: A new label map, same shape and dtype.
    """
    if not isinstance(labels, np.ndarray) or not np.issubdtype(
            labels.dtype, np.integer):
        what = labels.dtype if isinstance(labels, np.ndarray) else type(labels)
        raise TypeError(f'labels must be an integer numpy array, got {what}')
    if use_void_label and pad_value is None:
        raise ValueError('use_void_label needs pad_value: the void class '
                         'marks the padded pixels')
    info = np.iinfo(labels.dtype)
    checked = [('ignore_index', ignore_index)]
    if use_void_label:
        checked.append(('the void label num_classes', num_classes))
    for name, value in checked:
        if not info.min <= value <= info.max:
            raise ValueError(f'{name}={value} does not fit the label dtype '
                             f'{labels.dtype}')
    out = labels.copy()
    if reduce_zero_label:
        zero = labels == 0
        keep = labels == ignore_index
        out[~zero & ~keep] -= 1
        out[zero] = ignore_index
    if pad_value is not None:
        out[labels == pad_value] = (
            num_classes if use_void_label else ignore_index)
    return out


@TRANSFORMS.register_module()
class AdaptSegLabels(BaseTransform):
    """Adapt the ``semseg`` label map of a sample (see
    :func:`adapt_seg_labels`) and check the class ids.

    Reads and replaces ``results[key]`` (an integer ``(H, W)`` array; the
    original array is not modified). Our pipelines pad label maps with
    ``ignore_index`` directly, so ``pad_value`` defaults to None; give the
    value a padding transform wrote to map those pixels to ignore or to the
    void class.

    With ``num_classes`` given, every label after the transform must be in
    ``[0, num_classes)``, ``ignore_index`` or (with ``use_void_label``) the
    void class ``num_classes``; any other value raises a ``ValueError``
    naming the values and the file (``results['img_path'][key]``).

    Args:
        num_classes (int, optional): Number of classes after reduction.
            Required with ``use_void_label`` and for the range check.
        reduce_zero_label (bool): Drop label 0 and shift the others down.
            Defaults to False.
        use_void_label (bool): Padded pixels become class ``num_classes``.
            Defaults to False.
        pad_value (int, optional): Label value of padded pixels. Defaults
            to None.
        ignore_index (int): The ignored label. Defaults to 255.
        key (str): Key of the label map in ``results``. Defaults to
            ``'semseg'``.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 reduce_zero_label: bool = False,
                 use_void_label: bool = False,
                 pad_value: Optional[int] = None,
                 ignore_index: int = 255,
                 key: str = 'semseg') -> None:
        if use_void_label and (num_classes is None or pad_value is None):
            raise ValueError('use_void_label needs num_classes and pad_value '
                             '(the void class marks padded pixels)')
        if num_classes is not None and num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        self.num_classes = num_classes
        self.reduce_zero_label = reduce_zero_label
        self.use_void_label = use_void_label
        self.pad_value = pad_value
        self.ignore_index = ignore_index
        self.key = key

    def _path(self, results: Dict) -> str:
        paths = results.get('img_path')
        if isinstance(paths, dict):
            return str(paths.get(self.key, '?'))
        return '?'

    def transform(self, results: Dict) -> Dict:
        """Replace ``results[key]`` by the adapted labels."""
        if self.key not in results:
            raise KeyError(f'AdaptSegLabels: the sample has no {self.key!r} '
                           f'label map (keys: {sorted(results)})')
        labels = results[self.key]
        if not isinstance(labels, np.ndarray) or labels.ndim != 2:
            what = labels.shape if isinstance(labels,
                                              np.ndarray) else type(labels)
            raise ValueError(f'AdaptSegLabels: {self.key} of '
                             f"'{self._path(results)}' must be an (H, W) "
                             f'numpy array, got {what}')
        out = adapt_seg_labels(
            labels,
            # Without a void label, num_classes does not enter the mapping.
            self.num_classes if self.num_classes is not None else 0,
            reduce_zero_label=self.reduce_zero_label,
            use_void_label=self.use_void_label,
            pad_value=self.pad_value,
            ignore_index=self.ignore_index)
        if self.num_classes is not None:
            allowed = (out < self.num_classes) | (out == self.ignore_index)
            if self.use_void_label:
                allowed |= out == self.num_classes
            allowed &= out >= 0
            if not allowed.all():
                bad = np.unique(out[~allowed]).tolist()
                void = (f' or {self.num_classes} (void)'
                        if self.use_void_label else '')
                raise ValueError(
                    f"{self.key} file '{self._path(results)}' has labels "
                    f'{bad} after AdaptSegLabels; expected ids in [0, '
                    f'{self.num_classes}), {self.ignore_index} (ignore)'
                    f'{void}')
        results[self.key] = out
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'reduce_zero_label={self.reduce_zero_label}, '
                f'use_void_label={self.use_void_label}, '
                f'pad_value={self.pad_value}, '
                f'ignore_index={self.ignore_index}, key={self.key!r})')
