# Copyright (c) mmmultimae contributors. All rights reserved.
"""Reconstruction losses on masked patch tokens.

All losses work on patch tokens (``(c ph pw)`` layout, see
``models/utils/patchify.py``) and a token mask ``(B, N)`` with True =
masked, and reduce like official MultiMAE: a per-sample mean over the masked
positions, then the mean over the samples that have any masked position
(official: ``nanmean``). Here the reduction counts instead of dividing by
zero, so a batch without masked tokens gives a float 0 (official: an int64
``tensor(0)``) without a host synchronisation.
"""
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmmultimae.registry import MODELS


def masked_sample_mean(loss: Tensor, weight: Tensor) -> Tensor:
    """Per-sample weighted mean, averaged over the samples with weight.

    Args:
        loss (Tensor): Loss values of shape ``(B, ...)``.
        weight (Tensor): 0/1 weights broadcastable to ``loss``.

    Returns:
        Tensor: Scalar. Samples whose weights sum to 0 are left out; if none
        is left the result is 0.
    """
    weight = weight.to(loss.dtype).expand_as(loss).flatten(1)
    num = (loss.flatten(1) * weight).sum(dim=1)
    den = weight.sum(dim=1)
    valid = den > 0
    per_sample = num / den.clamp(min=1)
    return (per_sample * valid).sum() / valid.sum().clamp(min=1)


def _check_mask(mask: Optional[Tensor], pred: Tensor) -> None:
    if mask is not None and tuple(mask.shape) != tuple(pred.shape[:2]):
        raise ValueError(f'mask must have shape (B, N) = '
                         f'{tuple(pred.shape[:2])}, got {tuple(mask.shape)}')


class _MaskedPixelLoss(nn.Module):
    """Shared body of :class:`MaskedMSELoss` and :class:`MaskedL1Loss`; the
    subclasses set ``criterion``, the element-wise loss of ``pred - target``
    (a function of the difference only, so that autograd keeps one float32
    tensor for backward, not both ``pred`` and ``target`` as
    ``F.mse_loss`` / ``F.l1_loss`` do)."""

    criterion: Callable[[Tensor], Tensor]

    def __init__(self,
                 loss_weight: float = 1.0,
                 loss_on_unmasked: bool = False) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.loss_on_unmasked = loss_on_unmasked

    def forward(self,
                pred: Tensor,
                target: Tensor,
                mask: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): Predicted patches ``(B, N, C * ph * pw)``.
            target (Tensor): Target patches, same shape.
            mask (Tensor, optional): Bool ``(B, N)``, True = masked (where the
                loss is taken). None, or ``loss_on_unmasked``, takes every
                token.

        Returns:
            Tensor: Scalar float32 loss.
        """
        if pred.dim() != 3 or pred.shape != target.shape:
            raise ValueError(
                f'{type(self).__name__} expects pred and target patches of '
                f'the same shape (B, N, C*ph*pw), got {tuple(pred.shape)} '
                f'and {tuple(target.shape)}')
        _check_mask(mask, pred)
        pred, target = pred.float(), target.float()
        loss = self.criterion(pred - target).mean(dim=-1)
        if mask is None or self.loss_on_unmasked:
            return loss.mean() * self.loss_weight
        return masked_sample_mean(loss, mask) * self.loss_weight

    def extra_repr(self) -> str:
        return (f'loss_weight={self.loss_weight}, loss_on_unmasked='
                f'{self.loss_on_unmasked}')


@MODELS.register_module()
class MaskedMSELoss(_MaskedPixelLoss):
    """Mean squared error on masked patch tokens.

    Per token the squared error is averaged over channels and pixels; per
    sample over its masked tokens; then over the samples with masked tokens.

    Per-patch target standardisation (official ``norm_pix``) is done by the
    head (``PixelReconstructionHead(norm_target=True)``).

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_on_unmasked (bool): Take the loss over all tokens instead of the
            masked ones (official ``loss_on_unmasked``). Defaults to False.
    """

    criterion = staticmethod(torch.square)


@MODELS.register_module()
class MaskedL1Loss(_MaskedPixelLoss):
    """Mean absolute error on masked patch tokens (depth in MultiMAE).

    Reduced like :class:`MaskedMSELoss`, with the same arguments.
    """

    criterion = staticmethod(torch.abs)


@MODELS.register_module()
class MaskedCrossEntropyLoss(nn.Module):
    """Per-pixel cross-entropy on masked patch tokens (semantic maps).

    The prediction holds ``K * ph * pw`` logits per token in ``(c ph pw)``
    order, the labels ``ph * pw`` class ids (see
    ``models/utils/patchify.py``). The per-pixel loss is averaged per sample
    over the pixels of its masked tokens, then over the samples with masked
    tokens.

    Pixels labelled ``ignore_index`` add nothing to the numerator. With
    ``avg_non_ignore=True`` (default) they are also left out of the
    denominator, so each sample's loss is the mean over its valid masked
    pixels. Official MultiMAE counts them in the denominator (every pixel of
    a masked token), which shrinks the loss of samples with many ignored
    pixels; ``avg_non_ignore=False`` reproduces that. Without a mask (or
    with ``loss_on_unmasked``) the loss is the mean over the valid pixels
    of the batch (official, like ``avg_non_ignore=False``: over all pixels).

    Args:
        ignore_index (int): Label value that is ignored. Defaults to -100
            (``F.cross_entropy``'s default, used in official pre-training);
            fine-tuning data usually uses 255.
        label_smoothing (float): Label smoothing of ``F.cross_entropy``.
            Defaults to 0.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        loss_on_unmasked (bool): Take the loss over all tokens. Defaults to
            False.
        avg_non_ignore (bool): Leave ignored pixels out of the per-sample
            denominator (the name follows mmseg's ``CrossEntropyLoss``).
            Defaults to True.
    """

    def __init__(self,
                 ignore_index: int = -100,
                 label_smoothing: float = 0.,
                 loss_weight: float = 1.0,
                 loss_on_unmasked: bool = False,
                 avg_non_ignore: bool = True) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.loss_weight = loss_weight
        self.loss_on_unmasked = loss_on_unmasked
        self.avg_non_ignore = avg_non_ignore

    def pixel_loss(self, pred: Tensor, labels: Tensor) -> Tensor:
        """Per-pixel cross-entropy.

        Args:
            pred (Tensor): Logit patches ``(B, N, K * ph * pw)``.
            labels (Tensor): Label patches ``(B, N, ph * pw)``.

        Returns:
            Tensor: float32 loss ``(B, N, ph * pw)``; 0 at ignored pixels.
        """
        if pred.dim() != 3 or labels.dim() != 3 or \
                pred.shape[:2] != labels.shape[:2] or \
                pred.shape[2] % labels.shape[2]:
            raise ValueError(
                'MaskedCrossEntropyLoss expects logit patches (B, N, '
                'K*ph*pw) and label patches (B, N, ph*pw), got '
                f'{tuple(pred.shape)} and {tuple(labels.shape)}')
        b, n, p = labels.shape
        logits = pred.float().reshape(b, n, -1, p).transpose(1, 2)
        return F.cross_entropy(
            logits,
            labels.long(),
            ignore_index=self.ignore_index,
            reduction='none',
            label_smoothing=self.label_smoothing)

    def forward(self,
                pred: Tensor,
                labels: Tensor,
                mask: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): Logit patches ``(B, N, K * ph * pw)``.
            labels (Tensor): Label patches ``(B, N, ph * pw)``, int.
            mask (Tensor, optional): Bool ``(B, N)``, True = masked.

        Returns:
            Tensor: Scalar float32 loss.
        """
        loss = self.pixel_loss(pred, labels)
        _check_mask(mask, pred)
        valid = labels != self.ignore_index
        if mask is None or self.loss_on_unmasked:
            if not self.avg_non_ignore:
                return loss.mean() * self.loss_weight
            return (loss.sum() / valid.sum().clamp(min=1)) * self.loss_weight
        weight = mask[..., None].expand_as(loss)
        if self.avg_non_ignore:
            weight = weight & valid
        return masked_sample_mean(loss, weight) * self.loss_weight

    def extra_repr(self) -> str:
        return (f'ignore_index={self.ignore_index}, label_smoothing='
                f'{self.label_smoothing}, loss_weight={self.loss_weight}, '
                f'loss_on_unmasked={self.loss_on_unmasked}, avg_non_ignore='
                f'{self.avg_non_ignore}')
