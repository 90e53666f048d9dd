# Copyright (c) mmmultimae contributors. All rights reserved.
"""Dense regression losses with a valid-pixel mask (depth, Taskonomy).

They reduce like official MultiMAE's fine-tuning losses
(``run_finetuning_depth.py`` / ``run_finetuning_taskonomy.py``): ONE mean
over every valid element of the batch, channels included (sum over valid
elements / their count), not a mean of per-image means. The difference
``pred - target`` is set to 0 at invalid elements *before* the element-wise
loss, so invalid pixels may hold anything (an outlier, inf, NaN) without
reaching the value or the gradient.

Unlike official, a batch without any valid element gives 0 (official:
``0 / 0 = NaN``), still connected to ``pred`` so that ``backward`` works
(with zero gradients), and no host synchronisation is needed.

The classes follow mmseg's loss conventions: ``loss_weight`` and a
``loss_name`` property (``'loss_<kind>'`` by default) that mmseg decode
heads use as the key of the loss in their loss dict.
"""
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor, nn

from mmmultimae.registry import MODELS


def masked_difference(
        pred: Tensor,
        target: Tensor,
        valid_mask: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """``pred - target`` in float32, 0 where invalid, and the valid count.

    Args:
        pred (Tensor): Predictions ``(B, C, H, W)`` (any float dtype; the
            difference is computed in float32 as official, which casts
            predictions with ``.float()``).
        target (Tensor): Targets, same shape as ``pred``.
        valid_mask (Tensor, optional): Bool mask, True = valid, of shape
            ``(B, 1, H, W)`` (shared by all channels) or ``(B, C, H, W)``.
            None means every element is valid.

    Returns:
        tuple[Tensor, Tensor]: The masked difference ``(B, C, H, W)`` and
        the number of valid elements (channels count), a 0-d float tensor.
    """
    if pred.shape != target.shape:
        raise ValueError(f'pred and target must have the same shape, got '
                         f'{tuple(pred.shape)} and {tuple(target.shape)}')
    if pred.dim() < 2:
        raise ValueError('pred must be (B, C, ...) with a channel dim, got '
                         f'shape {tuple(pred.shape)}')
    diff = pred.float() - target.float()
    if valid_mask is None:
        return diff, diff.new_tensor(float(diff.numel()))
    if not isinstance(valid_mask, Tensor) or valid_mask.dtype != torch.bool:
        what = valid_mask.dtype if isinstance(valid_mask,
                                              Tensor) else type(valid_mask)
        raise TypeError('valid_mask must be a bool tensor (True = valid) '
                        f'of shape (B, 1, ...) or {tuple(pred.shape)}, got '
                        f'{what}')
    expected = (pred.shape[0], 1) + tuple(pred.shape[2:])
    if valid_mask.shape not in (pred.shape, torch.Size(expected)):
        raise ValueError(f'valid_mask must have shape {expected} or '
                         f'{tuple(pred.shape)}, got {tuple(valid_mask.shape)}')
    valid = valid_mask.expand_as(diff)
    diff = torch.where(valid, diff, diff.new_zeros(()))
    return diff, valid.sum().to(diff.dtype)


def _mean_over_valid(elementwise: Tensor, count: Tensor) -> Tensor:
    """Sum of a loss that is 0 at invalid elements over the valid count;
    0 (with a gradient path) when there is no valid element."""
    return elementwise.sum() / count.clamp(min=1)


def masked_l1_loss(pred: Tensor,
                   target: Tensor,
                   valid_mask: Optional[Tensor] = None) -> Tensor:
    """Mean absolute error over the valid elements of the batch.

    Args:
        pred (Tensor): Predictions ``(B, C, H, W)``.
        target (Tensor): Targets ``(B, C, H, W)``.
        valid_mask (Tensor, optional): Bool ``(B, 1, H, W)`` or
            ``(B, C, H, W)``, True = valid; None = all valid.

    Returns:
        Tensor: 0-d float32 loss; 0 if nothing is valid.
    """
    diff, count = masked_difference(pred, target, valid_mask)
    return _mean_over_valid(diff.abs(), count)


def masked_mse_loss(pred: Tensor,
                    target: Tensor,
                    valid_mask: Optional[Tensor] = None) -> Tensor:
    """Mean squared error over the valid elements of the batch.

    Args:
        pred (Tensor): Predictions ``(B, C, H, W)``.
        target (Tensor): Targets ``(B, C, H, W)``.
        valid_mask (Tensor, optional): Bool ``(B, 1, H, W)`` or
            ``(B, C, H, W)``, True = valid; None = all valid.

    Returns:
        Tensor: 0-d float32 loss; 0 if nothing is valid.
    """
    diff, count = masked_difference(pred, target, valid_mask)
    return _mean_over_valid(diff.square(), count)


def masked_berhu_loss(pred: Tensor,
                      target: Tensor,
                      valid_mask: Optional[Tensor] = None,
                      threshold_ratio: float = 0.2,
                      min_threshold: float = 1e-5) -> Tensor:
    """Reverse Huber (berHu) loss over the valid elements of the batch.

    With ``d = pred - target`` (0 where invalid) and the batch-wide
    threshold ``c = max(threshold_ratio * max|d|, min_threshold)`` (no
    gradient flows through ``c``), each valid element adds ``|d|`` if
    ``|d| < c`` and ``(d^2 + c^2) / (2 c)`` otherwise; the sum is divided
    by the number of valid elements. Official MultiMAE depth loss.

    Args:
        pred (Tensor): Predictions ``(B, C, H, W)``.
        target (Tensor): Targets ``(B, C, H, W)``.
        valid_mask (Tensor, optional): Bool ``(B, 1, H, W)`` or
            ``(B, C, H, W)``, True = valid; None = all valid.
        threshold_ratio (float): ``c`` as a fraction of the largest
            absolute error. Defaults to 0.2.
        min_threshold (float): Lower bound of ``c``. Defaults to 1e-5.

    Returns:
        Tensor: 0-d float32 loss; 0 if nothing is valid.
    """
    diff, count = masked_difference(pred, target, valid_mask)
    abs_diff = diff.abs()
    with torch.no_grad():
        c = (threshold_ratio * abs_diff.max()).clamp(min=min_threshold)
    quadratic = (diff.square() + c * c) / (2 * c)
    elementwise = torch.where(abs_diff < c, abs_diff, quadratic)
    return _mean_over_valid(elementwise, count)


class _MaskedRegressionLoss(nn.Module):
    """Shared body: ``loss_weight * loss_fn(pred, target, valid_mask)``."""

    default_loss_name: str = ''
    #: ``compute(pred, target, valid_mask)``, set by each subclass.
    compute: Callable[[Tensor, Tensor, Optional[Tensor]], Tensor]

    def __init__(self,
                 loss_weight: float = 1.0,
                 loss_name: Optional[str] = None) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name or self.default_loss_name

    def forward(self,
                pred: Tensor,
                target: Tensor,
                valid_mask: Optional[Tensor] = None) -> Tensor:
        """Weighted loss.

        Args:
            pred (Tensor): Predictions ``(B, C, H, W)``.
            target (Tensor): Targets ``(B, C, H, W)``.
            valid_mask (Tensor, optional): Bool ``(B, 1, H, W)`` or
                ``(B, C, H, W)``, True = valid; None = all valid.

        Returns:
            Tensor: 0-d float32 loss.
        """
        return self.loss_weight * self.compute(pred, target, valid_mask)

    @property
    def loss_name(self) -> str:
        """Key of this loss in a loss dict (mmseg convention: a name that
        starts with ``loss_`` is added to the total loss)."""
        return self._loss_name

    def extra_repr(self) -> str:
        return (f'loss_weight={self.loss_weight}, '
                f'loss_name={self._loss_name!r}')


@MODELS.register_module()
class PixelL1Loss(_MaskedRegressionLoss):
    """L1 loss averaged over the valid pixels x channels of the batch.

    The official Taskonomy loss (every task) and the ``l1`` option of the
    official NYUv2 depth fine-tuning; see :func:`masked_l1_loss`.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str, optional): Loss dict key. Defaults to
            ``'loss_l1'``.
    """

    default_loss_name = 'loss_l1'

    def compute(self, pred: Tensor, target: Tensor,
                valid_mask: Optional[Tensor]) -> Tensor:
        return masked_l1_loss(pred, target, valid_mask)


@MODELS.register_module()
class PixelMSELoss(_MaskedRegressionLoss):
    """Squared error averaged over the valid pixels x channels of the batch.

    The official ``mse`` option of the depth / Taskonomy fine-tuning
    scripts; see :func:`masked_mse_loss`.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str, optional): Loss dict key. Defaults to
            ``'loss_mse'``.
    """

    default_loss_name = 'loss_mse'

    def compute(self, pred: Tensor, target: Tensor,
                valid_mask: Optional[Tensor]) -> Tensor:
        return masked_mse_loss(pred, target, valid_mask)


@MODELS.register_module()
class BerHuLoss(_MaskedRegressionLoss):
    """Reverse Huber loss, the official NYUv2 depth fine-tuning loss.

    The threshold ``c`` is shared by the whole batch; see
    :func:`masked_berhu_loss`.

    Args:
        threshold_ratio (float): ``c`` as a fraction of the batch's largest
            absolute valid error. Defaults to 0.2.
        min_threshold (float): Lower bound of ``c``. Defaults to 1e-5.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_name (str, optional): Loss dict key. Defaults to
            ``'loss_berhu'``.
    """

    default_loss_name = 'loss_berhu'

    def __init__(self,
                 threshold_ratio: float = 0.2,
                 min_threshold: float = 1e-5,
                 loss_weight: float = 1.0,
                 loss_name: Optional[str] = None) -> None:
        super().__init__(loss_weight=loss_weight, loss_name=loss_name)
        if threshold_ratio <= 0 or min_threshold <= 0:
            raise ValueError('threshold_ratio and min_threshold must be > 0, '
                             f'got {threshold_ratio} and {min_threshold}')
        self.threshold_ratio = threshold_ratio
        self.min_threshold = min_threshold

    def compute(self, pred: Tensor, target: Tensor,
                valid_mask: Optional[Tensor]) -> Tensor:
        return masked_berhu_loss(pred, target, valid_mask,
                                 self.threshold_ratio, self.min_threshold)

    def extra_repr(self) -> str:
        return (f'threshold_ratio={self.threshold_ratio}, '
                f'min_threshold={self.min_threshold}, ' + super().extra_repr())
