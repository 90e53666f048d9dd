# Copyright (c) mmmultimae contributors. All rights reserved.
"""Batch preparation for dicts of modalities."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from mmmultimae.registry import MODELS
from .depth_standardization import standardize_depth

_DENSE_KEYS = ('mean', 'std', 'standardize', 'trim', 'eps', 'stride_level')
_LABEL_KEYS = ('num_classes', 'ignore_index', 'stride_level')


def _first_bad_samples(bad: Tensor) -> List[int]:
    """Indices of the samples (dim 0) where ``bad`` is set anywhere."""
    return bad.reshape(bad.shape[0], -1).any(dim=1).nonzero()[:, 0].tolist()


@MODELS.register_module()
class MultiModalDataPreprocessor(BaseDataPreprocessor):
    """Stack, check, move and normalise a dict of modalities.

    Every modality present in the inputs needs an entry (an empty dict passes
    it through as float). Dense modalities (``(C, H, W)`` per sample) take
    ``mean`` / ``std`` (per channel, in the input's units: ImageNet statistics
    x 255 for uint8 RGB) or ``standardize=True`` (robust per-sample
    standardisation, :func:`standardize_depth`, with ``trim`` and ``eps``).
    Label maps (``(h, w)`` per sample) are recognised by ``num_classes``; ids
    must be in ``[0, num_classes)`` or equal ``ignore_index`` (if given), and
    they come out as int64.

    Sizes are checked across modalities at full resolution: a modality with
    ``stride_level`` s (default 1 for dense modalities, 4 for label maps, as
    MultiMAE's 1/4-resolution semseg) must be ``(H / s, W / s)``. NaN/inf
    values of float modalities and out-of-range ids raise a ``ValueError``
    naming the modality and the samples. The checks run before the transfer
    to the device (on the CPU batches of the data loader), so they add no
    device synchronisation.

    Example:
        >>> preprocessor = MultiModalDataPreprocessor(
        ...     rgb=dict(mean=[123.675, 116.28, 103.53],
        ...              std=[58.395, 57.12, 57.375]),
        ...     depth=dict(standardize=True, trim=0.1),
        ...     semseg=dict(num_classes=133))

    Dense transfers: when the data samples carry ``gt_valid_mask`` (bool
    ``(1, H, W)``, e.g. valid depth and no padding, see
    ``PackMultiModalSegInputs``), the depth standardisation uses only those
    pixels and sets the others to 0 (official fine-tuning). It runs on the
    whole image, before any test-time windowing. ``size_divisor`` pads every
    modality at the bottom and right to a multiple of it (a ViT needs whole
    patches) and records ``img_padding_size`` (``[left, right, top,
    bottom]``, mmseg's convention, undone by the segmentors).

    Args:
        non_blocking (bool): Asynchronous host-to-device copies. Defaults to
            False.
        size_divisor (int, optional): Pad the full-resolution size to a
            multiple of it. Defaults to None (no padding).
        pad_value (float): Value of the padded pixels after normalisation
            (0: the mean colour, the standardised mean depth; labels are
            padded with it too). Defaults to 0.
        **modalities (dict): Config of each modality, see above.
    """

    def __init__(self,
                 non_blocking: bool = False,
                 size_divisor: Optional[int] = None,
                 pad_value: float = 0.,
                 **modalities: dict) -> None:
        super().__init__(non_blocking=non_blocking)
        if size_divisor is not None and size_divisor < 1:
            raise ValueError(f'size_divisor must be >= 1, got {size_divisor}')
        self.size_divisor = size_divisor
        self.pad_value = pad_value
        if not modalities:
            raise ValueError('MultiModalDataPreprocessor needs the config of '
                             'at least one modality, e.g. rgb=dict(mean=..., '
                             'std=...)')
        self.configs: Dict[str, dict] = {}
        for name, cfg in modalities.items():
            if not isinstance(cfg, dict):
                raise TypeError(f'config of modality {name!r} must be a dict, '
                                f'got {cfg!r}')
            self.configs[name] = self._parse_config(name, dict(cfg))

    def _parse_config(self, name: str, cfg: dict) -> dict:
        is_label = 'num_classes' in cfg
        allowed = _LABEL_KEYS if is_label else _DENSE_KEYS
        unknown = sorted(set(cfg) - set(allowed))
        if unknown:
            raise ValueError(
                f'modality {name!r}: unknown keys {unknown}; '
                f'{"label maps" if is_label else "dense modalities"} accept '
                f'{list(allowed)}')
        if is_label:
            cfg.setdefault('stride_level', 4)
            cfg.setdefault('ignore_index', None)
            cfg['kind'] = 'label'
            return cfg
        cfg.setdefault('stride_level', 1)
        if ('mean' in cfg) != ('std' in cfg):
            raise ValueError(f'modality {name!r}: give both mean and std')
        if 'mean' in cfg and cfg.get('standardize', False):
            raise ValueError(f'modality {name!r}: mean/std and standardize '
                             'are exclusive')
        if 'mean' in cfg:
            mean = torch.as_tensor(cfg.pop('mean'), dtype=torch.float32)
            std = torch.as_tensor(cfg.pop('std'), dtype=torch.float32)
            if mean.dim() != 1 or mean.shape != std.shape:
                raise ValueError(f'modality {name!r}: mean and std must be '
                                 'sequences of the same length (one value '
                                 'per channel)')
            if not bool((std > 0).all()):
                raise ValueError(f'modality {name!r}: std must be positive')
            self.register_buffer(f'{name}_mean', mean.view(-1, 1, 1), False)
            self.register_buffer(f'{name}_std', std.view(-1, 1, 1), False)
            cfg['normalize'] = True
        cfg.setdefault('standardize', False)
        cfg.setdefault('trim', 0.1)
        cfg.setdefault('eps', 1e-6)
        cfg['kind'] = 'dense'
        return cfg

    @staticmethod
    def _stack(name: str, value: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        if isinstance(value, Tensor):
            return value
        if not isinstance(value, (list, tuple)) or not value or \
                not all(isinstance(v, Tensor) for v in value):
            raise TypeError(f'inputs[{name!r}] must be a tensor or a '
                            'non-empty list of tensors')
        shapes = {tuple(v.shape) for v in value}
        if len(shapes) != 1:
            raise ValueError(
                f'inputs[{name!r}]: samples have different shapes '
                f'{[tuple(v.shape) for v in value]}; resize or crop them to '
                'one size in the pipeline')
        return torch.stack(list(value))

    def _check(self, name: str, x: Tensor) -> None:
        cfg = self.configs[name]
        if cfg['kind'] == 'label':
            if x.dim() != 3 or x.dtype.is_floating_point:
                raise ValueError(
                    f'inputs[{name!r}] must be integer label maps (B, h, w), '
                    f'got {x.dtype} of shape {tuple(x.shape)}')
            bad = (x < 0) | (x >= cfg['num_classes'])
            if cfg['ignore_index'] is not None:
                bad &= x != cfg['ignore_index']
            if bool(bad.any()):
                allowed = f'[0, {cfg["num_classes"]})'
                if cfg['ignore_index'] is not None:
                    allowed += f' or {cfg["ignore_index"]} (ignore_index)'
                raise ValueError(
                    f'inputs[{name!r}]: class ids must be in {allowed}; '
                    f'samples {_first_bad_samples(bad)} have ids '
                    f'{torch.unique(x[bad])[:10].tolist()}')
            return
        if x.dim() != 4:
            raise ValueError(f'inputs[{name!r}] must be (B, C, H, W), got '
                             f'shape {tuple(x.shape)}')
        if cfg.get('normalize'):
            channels = getattr(self, f'{name}_mean').shape[0]
            if x.shape[1] != channels:
                raise ValueError(
                    f'inputs[{name!r}] has {x.shape[1]} channels but mean/'
                    f'std have {channels} values')
        if x.dtype.is_floating_point:
            bad = ~torch.isfinite(x)
            if bool(bad.any()):
                raise ValueError(
                    f'inputs[{name!r}] has NaN or inf values in samples '
                    f'{_first_bad_samples(bad)}')

    def _check_sizes(self, inputs: Dict[str, Tensor]) -> None:
        full = {}
        for name, x in inputs.items():
            s = self.configs[name]['stride_level']
            full[name] = (int(x.shape[-2]) * s, int(x.shape[-1]) * s)
        if len(set(full.values())) > 1:
            details = ', '.join(
                f'{name} {tuple(inputs[name].shape[-2:])} (stride_level '
                f'{self.configs[name]["stride_level"]})' for name in inputs)
            raise ValueError('modalities do not cover the same image: '
                             f'{details}')
        batch = {name: int(x.shape[0]) for name, x in inputs.items()}
        if len(set(batch.values())) > 1:
            raise ValueError(f'modalities have different batch sizes {batch}')

    def normalization(
            self, name: str) -> Optional[Tuple[List[float], List[float]]]:
        """Per-channel ``(mean, std)`` a modality is normalised with, in
        the input's units (e.g. ImageNet x 255 for uint8 rgb); None when it
        is not normalised that way."""
        cfg = self.configs.get(name)
        if cfg is None or not cfg.get('normalize'):
            return None
        return (getattr(self, f'{name}_mean').flatten().tolist(),
                getattr(self, f'{name}_std').flatten().tolist())

    def standardization(self, name: str) -> Optional[Dict[str, float]]:
        """``dict(trim=..., eps=...)`` of a modality standardised per
        sample (:func:`standardize_depth`, e.g. depth); None when it is not
        standardised."""
        cfg = self.configs.get(name)
        if cfg is None or not cfg.get('standardize'):
            return None
        return dict(trim=cfg['trim'], eps=cfg['eps'])

    def _normalize(self, name: str, x: Tensor,
                   valid: Optional[Tensor]) -> Tensor:
        cfg = self.configs[name]
        if cfg['kind'] == 'label':
            return x.long()
        x = x.float()
        if cfg.get('normalize'):
            return (x - getattr(self, f'{name}_mean')) / getattr(
                self, f'{name}_std')
        if cfg['standardize']:
            if valid is not None and valid.shape != x.shape:
                raise ValueError(
                    f'gt_valid_mask of shape {tuple(valid.shape[-2:])} does '
                    f'not match inputs[{name!r}] {tuple(x.shape[-2:])}: '
                    'resize mask_valid with the inputs in the pipeline')
            return standardize_depth(
                x, valid, trim=cfg['trim'], eps=cfg['eps'])
        return x

    @staticmethod
    def _valid_masks(data_samples) -> Optional[Tensor]:
        """Stacked ``gt_valid_mask`` of the data samples ``(B, 1, H, W)``,
        None when they have none; a sample without one is all valid (as
        for the regression heads: ``mask_valid`` files are optional)."""
        if not isinstance(data_samples, (list, tuple)) or not data_samples:
            return None
        masks = [
            s.gt_valid_mask.data if 'gt_valid_mask' in s else None
            for s in data_samples
        ]
        present = next((m for m in masks if m is not None), None)
        if present is None:
            return None
        return torch.stack([
            torch.ones_like(present) if m is None else m for m in masks
        ])

    def _pad(self, out: Dict[str, Tensor], data_samples) -> Dict[str, Tensor]:
        """Pad every modality to a multiple of ``size_divisor`` (at full
        resolution) and record the padding."""
        first = next(iter(out))
        stride = self.configs[first]['stride_level']
        height = out[first].shape[-2] * stride
        width = out[first].shape[-1] * stride
        div = self.size_divisor
        bottom, right = -height % div, -width % div
        if not bottom and not right:
            padded = out
        else:
            padded = {}
            for name, x in out.items():
                s = self.configs[name]['stride_level']
                if bottom % s or right % s:
                    raise ValueError(
                        f'size_divisor {div} pads {(bottom, right)} pixels, '
                        f'not a multiple of the stride_level {s} of '
                        f'{name!r}; use a size_divisor divisible by {s}')
                padded[name] = F.pad(
                    x, (0, right // s, 0, bottom // s), value=self.pad_value)
        for sample in data_samples or ():
            sample.set_metainfo(
                dict(
                    img_padding_size=[0, right, 0, bottom],
                    pad_shape=(height + bottom, width + right)))
        return padded

    def forward(self, data: dict, training: bool = False) -> dict:
        """Prepare a collated batch.

        Args:
            data (dict): ``dict(inputs={modality: list of per-sample tensors
                or a stacked tensor}, data_samples=...)``.
            training (bool): Unused (no train-time batch augmentation).

        Returns:
            dict: ``dict(inputs={modality: Tensor on the device},
            data_samples=...)``: float ``(B, C, H, W)`` dense modalities,
            int64 ``(B, h, w)`` label maps.
        """
        inputs = data.get('inputs') if isinstance(data, dict) else None
        if not isinstance(inputs, dict) or not inputs:
            raise TypeError('MultiModalDataPreprocessor expects data = '
                            "dict(inputs={modality: ...}, ...) with at least "
                            'one modality')
        unknown = [name for name in inputs if name not in self.configs]
        if unknown:
            raise KeyError(
                f'no preprocessor config for modalities {unknown}; '
                f'configured: {list(self.configs)} (add e.g. '
                f'{unknown[0]}=dict() to pass one through as float)')
        batch = {name: self._stack(name, v) for name, v in inputs.items()}
        for name, x in batch.items():
            self._check(name, x)
        self._check_sizes(batch)
        batch = self.cast_data(batch)
        data_samples = self.cast_data(data.get('data_samples'))
        valid = self._valid_masks(data_samples)
        out = {
            name: self._normalize(name, x, valid)
            for name, x in batch.items()
        }
        if self.size_divisor is not None:
            out = self._pad(out, data_samples)
        return dict(inputs=out, data_samples=data_samples)
