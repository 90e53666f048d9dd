# Copyright (c) mmmultimae contributors. All rights reserved.
"""Pieces shared by the fine-tuning decode heads."""
import inspect
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model.weight_init import initialize
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from torch import Tensor

from ..utils.blocks import init_linear_and_norm_weights


def check_in_index(in_index: Union[int, Sequence[int]], num_inputs: int,
                   head: str) -> None:
    """Raise if ``in_index`` does not address one of ``num_inputs`` maps.

    Args:
        in_index (int | Sequence[int]): The head's ``in_index``.
        num_inputs (int): Number of backbone feature maps received.
        head (str): Head name for the error message.
    """
    indices = in_index if isinstance(in_index, (list, tuple)) else [in_index]
    bad = [i for i in indices if not -num_inputs <= i < num_inputs]
    if bad:
        raise IndexError(
            f'{head}: in_index={in_index} addresses feature maps {bad}, but '
            f'the backbone gave {num_inputs} (one per out_indices entry)')


def check_channels(maps: Union[Tensor, List[Tensor]],
                   in_channels: Union[int, Sequence[int]], head: str) -> None:
    """Raise if the selected maps do not have ``in_channels`` channels.

    Args:
        maps (Tensor | list[Tensor]): Selected ``(B, C, h, w)`` map(s).
        in_channels (int | Sequence[int]): Expected channels (per map).
        head (str): Head name for the error message.
    """
    maps = maps if isinstance(maps, (list, tuple)) else [maps]
    expected = in_channels
    if not isinstance(in_channels, (list, tuple)):
        expected = [in_channels] * len(maps)
    got = [tuple(x.shape) for x in maps]
    widths = [shape[1] if len(shape) == 4 else None for shape in got]
    if widths != list(expected):
        raise ValueError(
            f'{head} expects (B, C, h, w) feature maps with C = '
            f'{list(expected)}, got shapes {got}; in_channels must be the '
            'backbone width times the number of out_modalities')


class CheckedInputsMixin:
    """``_transform_inputs`` of mmseg's ``BaseDecodeHead`` with clear errors
    for an ``in_index`` out of range and for maps of the wrong width."""

    def _transform_inputs(self, inputs: Sequence[Tensor]):
        check_in_index(self.in_index, len(inputs), type(self).__name__)
        maps = super()._transform_inputs(inputs)
        check_channels(maps, self.in_channels, type(self).__name__)
        return maps


def init_official_head_weights(module: nn.Module) -> None:
    """Official MultiMAE initialisation of a fine-tuning head.

    ``MultiMAE.__init__`` re-initialises every ``nn.Linear`` of the model,
    heads included, with xavier-uniform (bias 0) and every LayerNorm to 1 / 0
    (reference sections 0.15 and 1.3); convolutions keep PyTorch's default
    init, which is restored here (mmcv's ``ConvModule.init_weights`` would
    use kaiming-normal instead). BatchNorms get their default 1 / 0.

    Args:
        module (nn.Module): Head initialised in place.
    """
    resettable = (nn.Conv2d, nn.ConvTranspose2d, _BatchNorm)
    for m in module.modules():
        if isinstance(m, resettable):
            m.reset_parameters()
    init_linear_and_norm_weights(module)


class OfficialInitMixin:
    """``init_weights`` = official head init, then ``init_cfg`` if any.

    The children's own ``init_weights`` (mmcv ``ConvModule``: kaiming) are
    deliberately not run: the official init covers every layer.
    """

    def init_weights(self) -> None:
        init_official_head_weights(self)
        if self.init_cfg:
            initialize(self, self.init_cfg)
        self._is_init = True


def accepts_valid_mask(loss: nn.Module) -> bool:
    """Whether ``loss.forward`` takes a ``valid_mask`` argument."""
    return 'valid_mask' in inspect.signature(loss.forward).parameters


def regression_losses(pred: Tensor, target: Tensor,
                      valid_mask: Optional[Tensor],
                      losses: Sequence[nn.Module]) -> dict:
    """Apply regression losses, summing those that share a ``loss_name``.

    Losses whose ``forward`` takes ``valid_mask`` are called as
    ``loss(pred, target, valid_mask=valid_mask)``. Others (e.g. mmseg's
    ``SiLogLoss``, which treats targets ``<= eps`` as invalid) are called as
    ``loss(pred, target)`` with the invalid target pixels set to 0.

    Args:
        pred (Tensor): Prediction ``(B, C, H, W)``.
        target (Tensor): Target ``(B, C, H, W)``.
        valid_mask (Tensor, optional): ``(B, 1, H, W)`` bool, True = valid;
            None = all valid.
        losses (Sequence[nn.Module]): Loss modules with a ``loss_name``.

    Returns:
        dict[str, Tensor]: One entry per loss name.
    """
    out = {}
    for loss in losses:
        if accepts_valid_mask(loss):
            value = loss(pred, target, valid_mask=valid_mask)
        else:
            masked = target
            if valid_mask is not None:
                masked = target.masked_fill(~valid_mask, 0.)
            value = loss(pred, masked)
        name = loss.loss_name
        out[name] = out[name] + value if name in out else value
    return out


def stack_regression_targets(batch_data_samples: Sequence, head: str) -> tuple:
    """Stack ``gt_depth_map`` and the optional ``gt_valid_mask``.

    Args:
        batch_data_samples (Sequence[SegDataSample]): Each with
            ``gt_depth_map.data`` ``(C, H, W)`` float and optionally
            ``gt_valid_mask.data`` ``(1, H, W)`` bool.
        head (str): Head name for error messages.

    Returns:
        tuple[Tensor, Tensor | None]: Targets ``(B, C, H, W)`` and the valid
        mask ``(B, 1, H, W)`` (None when no sample has one: all valid; a
        sample without one is all valid).
    """
    targets, masks = [], []
    for i, sample in enumerate(batch_data_samples):
        if 'gt_depth_map' not in sample:
            raise KeyError(f'{head}: data sample {i} has no gt_depth_map')
        target = sample.gt_depth_map.data
        if target.dim() != 3 or not target.is_floating_point():
            raise ValueError(
                f'{head}: gt_depth_map.data of sample {i} must be a float '
                f'(C, H, W) tensor, got {target.dtype} '
                f'{tuple(target.shape)}')
        targets.append(target)
        mask = None
        if 'gt_valid_mask' in sample:
            mask = sample.gt_valid_mask.data
            if (mask.dtype != torch.bool
                    or tuple(mask.shape) != (1, *target.shape[1:])):
                raise ValueError(
                    f'{head}: gt_valid_mask.data of sample {i} must be a '
                    f'bool (1, H, W) tensor matching gt_depth_map '
                    f'{tuple(target.shape)}, got {mask.dtype} '
                    f'{tuple(mask.shape)}')
        masks.append(mask)
    target = torch.stack(targets)
    if all(m is None for m in masks):
        return target, None
    masks = [
        m if m is not None else target.new_ones(
            (1, *target.shape[2:]), dtype=torch.bool) for m in masks
    ]
    return target, torch.stack(masks)
