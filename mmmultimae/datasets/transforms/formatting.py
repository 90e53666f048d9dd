# Copyright (c) mmmultimae contributors. All rights reserved.
"""Packing of a multi-modal sample into ``inputs`` and a data sample."""
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement, PixelData
from mmseg.structures import SegDataSample

from mmmultimae.registry import TRANSFORMS
from ..synthetic.codecs import decode_normals
from .processing import check_same_size, get_modalities

DEFAULT_META_KEYS = ('img_path', 'ori_shape', 'img_shape', 'crop_bbox', 'flip',
                     'flip_direction', 'gt_label', 'sample_idx')


def _writable(array: np.ndarray) -> np.ndarray:
    """A C-contiguous, writable array (``torch.from_numpy`` needs both)."""
    if not array.flags.writeable or not array.flags.c_contiguous:
        return np.array(array, order='C')
    return array


@TRANSFORMS.register_module()
class PackMultiModalInputs(BaseTransform):
    """Pack the modalities of a sample as the data contract says.

    ``inputs`` holds, per modality present: ``rgb`` uint8 ``(3, H, W)``,
    ``depth`` float32 ``(1, H, W)`` (not standardised), ``semseg`` int64
    ``(h, w)`` (already downsampled) and ``normal`` float32 ``(3, H, W)``
    unit vectors (decoded from the uint8 file code). ``data_samples`` is a
    :class:`~mmengine.structures.BaseDataElement` whose metainfo holds the
    ``meta_keys`` present in ``results``.

    Args:
        modalities (Sequence[str], optional): Modalities to pack; all of
            ``results['modalities']`` when None. A listed modality missing
            from the sample is an error.
        meta_keys (Sequence[str]): Keys copied into the metainfo.
        num_classes (int, optional): If given, semseg ids must be smaller;
            a larger id is an error naming the semseg file.
    """

    def __init__(self,
                 modalities: Optional[Sequence[str]] = None,
                 meta_keys: Sequence[str] = DEFAULT_META_KEYS,
                 num_classes: Optional[int] = None) -> None:
        self.modalities = tuple(modalities) if modalities else None
        self.meta_keys = tuple(meta_keys)
        if num_classes is not None and num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        self.num_classes = num_classes

    def _pack(self, mod: str, array: np.ndarray,
              results: Dict) -> torch.Tensor:
        if mod in ('rgb', 'normal'):
            if array.ndim != 3 or array.shape[2] != 3:
                raise ValueError(f'{mod} must be (H, W, 3), got shape '
                                 f'{array.shape}')
            if mod == 'rgb':
                if array.dtype != np.uint8:
                    raise TypeError(f'rgb must be uint8, got {array.dtype}')
            elif array.dtype == np.uint8:
                array = decode_normals(array)
            return torch.from_numpy(_writable(array)).permute(2, 0,
                                                              1).contiguous()
        if array.ndim != 2:
            raise ValueError(f'{mod} must be (H, W), got shape {array.shape}')
        if mod == 'depth':
            return torch.from_numpy(
                _writable(array.astype(np.float32, copy=False)))[None]
        if mod == 'semseg':
            if self.num_classes is not None and array.size:
                top = int(array.max())
                if top >= self.num_classes:
                    bad = np.unique(array[array >= self.num_classes])
                    path = results.get('img_path', {}).get('semseg', '?')
                    raise ValueError(
                        f"semseg file '{path}' has class ids "
                        f'{bad.tolist()} >= num_classes={self.num_classes}')
            return torch.from_numpy(array.astype(np.int64))
        raise KeyError(f'PackMultiModalInputs does not know how to pack '
                       f'modality {mod!r}')

    def transform(self, results: Dict) -> Dict:
        """Build ``dict(inputs=..., data_samples=...)``."""
        modalities = self.modalities or get_modalities(results,
                                                       self.__class__.__name__)
        missing = [m for m in modalities if m not in results]
        if missing:
            raise KeyError(f'PackMultiModalInputs: modalities {missing} are '
                           f'missing from the sample')
        inputs = {m: self._pack(m, results[m], results) for m in modalities}
        metainfo = {k: results[k] for k in self.meta_keys if k in results}
        return dict(
            inputs=inputs, data_samples=BaseDataElement(metainfo=metainfo))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(modalities={self.modalities}, '
                f'meta_keys={self.meta_keys}, '
                f'num_classes={self.num_classes})')


#: Meta information packed for dense transfers (mmseg's PackSegInputs keys
#: plus the crop box).
SEG_META_KEYS = ('img_path', 'ori_shape', 'img_shape', 'pad_shape',
                 'scale_factor', 'flip', 'flip_direction', 'crop_bbox',
                 'sample_idx')


@TRANSFORMS.register_module()
class PackMultiModalSegInputs(PackMultiModalInputs):
    """Pack a dense-transfer sample: input modalities and mmseg targets.

    ``inputs`` holds the modalities of ``inputs`` as
    :class:`PackMultiModalInputs` packs them; the data sample is an mmseg
    ``SegDataSample`` (so mmseg's heads, metrics and visualiser work) with

    - ``gt_sem_seg``: int64 ``(1, H, W)`` from the ``seg_target`` modality;
    - ``gt_depth_map``: float32 ``(C, H, W)`` from the ``depth_target``
      modality (depth, or any dense regression target; a uint8 ``normal``
      file code is decoded to unit vectors, float maps such as
      Taskonomy's decoded tasks are kept);
    - ``gt_valid_mask``: bool ``(1, H, W)`` from ``mask_valid`` when the
      sample has it (valid depth; padding is invalid).

    Args:
        inputs (Sequence[str]): Modalities fed to the model.
        seg_target (str, optional): Modality holding the label map.
        depth_target (str, optional): Modality holding the regression
            target.
        meta_keys (Sequence[str]): Keys copied into the metainfo.
    """

    def __init__(self,
                 inputs: Sequence[str] = ('rgb', ),
                 seg_target: Optional[str] = None,
                 depth_target: Optional[str] = None,
                 meta_keys: Sequence[str] = SEG_META_KEYS) -> None:
        super().__init__(modalities=inputs, meta_keys=meta_keys)
        if seg_target is None and depth_target is None:
            raise ValueError('PackMultiModalSegInputs needs seg_target or '
                             'depth_target')
        self.seg_target = seg_target
        self.depth_target = depth_target

    def transform(self, results: Dict) -> Dict:
        """Build ``dict(inputs=..., data_samples=SegDataSample)``."""
        # inputs, targets and the valid mask must be pixel-aligned (test
        # pipelines may have no geometric transform that checks it)
        aligned = [
            m for m in (*self.modalities, self.seg_target, self.depth_target,
                        'mask_valid') if m is not None and m in results
        ]
        check_same_size(results, aligned, type(self).__name__)
        packed = super().transform(results)
        sample = SegDataSample(metainfo=packed['data_samples'].metainfo)
        for key, name in ((self.seg_target, 'gt_sem_seg'),
                          (self.depth_target, 'gt_depth_map')):
            if key is None:
                continue
            if key not in results:
                raise KeyError(f'PackMultiModalSegInputs: target {key!r} is '
                               'missing from the sample (loaded: '
                               f'{list(results.get("modalities", ()))})')
            array = _writable(np.asarray(results[key]))
            target = torch.from_numpy(array)
            if name == 'gt_sem_seg':
                if array.ndim != 2:
                    raise ValueError(f'{key} labels must be (H, W), got '
                                     f'{array.shape}')
                target = target.long()[None]
            else:
                if key == 'normal' and array.dtype == np.uint8:
                    # the file code, decoded to unit vectors as an input
                    target = torch.from_numpy(decode_normals(array))
                target = target.float()
                target = target[None] if array.ndim == 2 else \
                    target.permute(2, 0, 1)
            sample.set_field(PixelData(data=target), name)
        # predictions are resized to ``ori_shape`` and scored against the
        # targets: after a test-time resize / crop of the targets (NYUv2
        # depth's centre crop) that is their size, not the file's
        sample.set_metainfo(dict(ori_shape=tuple(target.shape[-2:])))
        if 'mask_valid' in results:
            valid = torch.from_numpy(_writable(results['mask_valid']))
            sample.set_field(PixelData(data=valid.bool()[None]),
                             'gt_valid_mask')
        packed['data_samples'] = sample
        return packed

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(inputs={self.modalities}, '
                f'seg_target={self.seg_target!r}, '
                f'depth_target={self.depth_target!r})')
