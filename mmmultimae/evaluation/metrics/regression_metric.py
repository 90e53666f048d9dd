# Copyright (c) mmmultimae contributors. All rights reserved.
"""Dense regression metrics: the validation loss (masked L1 / MSE / berHu,
for checkpoint selection) and surface-normal errors."""
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from torch import Tensor

from mmmultimae.models.losses.regression_losses import (masked_berhu_loss,
                                                        masked_l1_loss,
                                                        masked_mse_loss)
from mmmultimae.registry import METRICS
from .depth_metric import _field, _sample_path

#: Loss name -> the training loss function (``pred, target, valid_mask``).
REGRESSION_LOSSES = dict(
    l1=masked_l1_loss, mse=masked_mse_loss, berhu=masked_berhu_loss)


def _valid_elements(sample: Any, metric: str) -> Tuple[Tensor, Tensor]:
    """Prediction and target at the valid elements ``(N * C,)`` of one
    sample (``gt_valid_mask`` absent: all valid)."""
    pred = _field(sample, 'pred_depth_map')
    gt = _field(sample, 'gt_depth_map')
    path = _sample_path(sample)
    if pred is None or gt is None:
        raise KeyError(f"{metric}: sample '{path}' needs pred_depth_map and "
                       'gt_depth_map')
    if pred.shape != gt.shape or pred.dim() != 3:
        raise ValueError(
            f"{metric}: sample '{path}' has pred_depth_map "
            f'{tuple(pred.shape)} and gt_depth_map {tuple(gt.shape)}; '
            'expected both (C, H, W)')
    pred, gt = pred.detach().float(), gt.to(pred.device).float()
    valid = _field(sample, 'gt_valid_mask')
    if valid is None:
        return pred.flatten(), gt.flatten()
    if valid.dtype != torch.bool or valid.shape != (1, ) + gt.shape[1:]:
        raise TypeError(
            f"{metric}: sample '{path}' has a gt_valid_mask of {valid.dtype} "
            f'{tuple(valid.shape)}; expected bool {(1, ) + gt.shape[1:]}')
    valid = valid.to(pred.device).expand_as(gt)
    return pred[valid], gt[valid]


@METRICS.register_module()
class RegressionLossMetric(BaseMetric):
    """The validation loss of a dense regression, for ``save_best``.

    mmengine's ``CheckpointHook(save_best=..., rule='less')`` ranks
    checkpoints by a metric of the val evaluator; the official fine-tuning
    scripts keep the checkpoint of the lowest validation loss (Taskonomy:
    masked L1; NYUv2 depth: berHu). This metric computes that loss on the
    val set's predictions (``pred_depth_map``, as the model stores it:
    resized to the target and, for depth, clamped) with the training loss
    functions (:mod:`~mmmultimae.models.losses.regression_losses`: the mean
    over valid pixels x channels; berHu's threshold over the evaluated
    group). ``gt_valid_mask`` absent: every pixel is valid. The result key
    is ``loss_<loss>`` (``loss_l1``, ``loss_berhu``, ``loss_mse``), which
    mmengine's CheckpointHook ranks with ``rule='less'`` by default.

    Protocols:

    - ``'per_image'``: the loss of each image, then the mean over images
      (independent of the evaluation batch size);
    - ``'per_batch'``: the loss of each evaluation batch (its valid pixels
      jointly, as the official ``evaluate``), then the unweighted mean over
      batches (official; depends on the batch size).

    An image (``per_image``) or batch (``per_batch``) without a valid pixel
    has no loss (official: NaN): a ``ValueError`` naming it, or with
    ``skip_empty=True`` it is left out with a logged warning.

    Args:
        loss (str): ``'l1'``, ``'mse'`` or ``'berhu'``. Defaults to ``'l1'``.
        protocol (str): ``'per_image'`` or ``'per_batch'``.
        skip_empty (bool): Skip images/batches without valid pixels.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Prefix of the metric name.
    """

    PROTOCOLS = ('per_image', 'per_batch')

    def __init__(self,
                 loss: str = 'l1',
                 protocol: str = 'per_image',
                 skip_empty: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if loss not in REGRESSION_LOSSES:
            raise ValueError(f'loss must be one of {tuple(REGRESSION_LOSSES)}'
                             f', got {loss!r}')
        if protocol not in self.PROTOCOLS:
            raise ValueError(f'protocol must be one of {self.PROTOCOLS}, '
                             f'got {protocol!r}')
        self.loss = loss
        self.protocol = protocol
        self.skip_empty = skip_empty

    @property
    def key(self) -> str:
        """Name of the result (``loss_<loss>``)."""
        return f'loss_{self.loss}'

    def _group_loss(self, preds: List[Tensor],
                    gts: List[Tensor]) -> Optional[float]:
        pred, gt = torch.cat(preds), torch.cat(gts)
        if not pred.numel():
            return None
        return float(REGRESSION_LOSSES[self.loss](pred[None], gt[None]))

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store the loss of each image or of the batch."""
        if not data_samples:
            return
        name = type(self).__name__
        pairs = [_valid_elements(s, name) for s in data_samples]
        if self.protocol == 'per_image':
            groups = [([p], [g], f"image '{_sample_path(s)}'")
                      for (p, g), s in zip(pairs, data_samples)]
        else:
            paths = ', '.join(f"'{_sample_path(s)}'" for s in data_samples)
            groups = [([p for p, _ in pairs], [g for _, g in pairs],
                       f'batch of {paths}')]
        for preds, gts, what in groups:
            value = self._group_loss(preds, gts)
            if value is not None:
                self.results.append(value)
                continue
            if not self.skip_empty:
                raise ValueError(
                    f'{name}: the {what} has no valid pixel; pass '
                    'skip_empty=True to leave such images out')
            print_log(
                f'{name}: skipped the {what}: no valid pixel',
                logger='current',
                level=logging.WARNING)

    def compute_metrics(self, results: List[float]) -> Dict[str, float]:
        """Unweighted mean over the stored images or batches."""
        if not results:
            raise ValueError(f'{type(self).__name__}: no image with valid '
                             'pixels was evaluated')
        return {self.key: sum(results) / len(results)}


#: Angular thresholds (degrees) of :class:`SurfaceNormalMetric`.
NORMAL_ANGLE_THRESHOLDS = (11.25, 22.5, 30.0)
#: Keys of :class:`SurfaceNormalMetric`, in output order.
NORMAL_METRIC_KEYS = ('l1', 'mean_angle') + tuple(
    f'within_{t:g}' for t in NORMAL_ANGLE_THRESHOLDS)


def normal_angles(pred: Tensor, gt: Tensor, eps: float = 1e-6) -> Tensor:
    """Angle in degrees between predicted and true normals.

    Both are normalised first (a norm below ``eps`` counts as ``eps``, so a
    zero prediction is 90 degrees from everything); the cosine is clamped to
    [-1, 1] before ``acos``. Computed in float64.

    Args:
        pred (Tensor): Predicted normals ``(N, 3)`` (any length).
        gt (Tensor): True normals ``(N, 3)``.
        eps (float): Smallest norm. Defaults to 1e-6.

    Returns:
        Tensor: float64 ``(N,)`` angles in [0, 180].
    """
    if pred.shape != gt.shape or pred.dim() != 2 or pred.shape[1] != 3:
        raise ValueError('pred and gt must both be (N, 3), got '
                         f'{tuple(pred.shape)} and {tuple(gt.shape)}')
    pred, gt = pred.double(), gt.double()
    pred = pred / pred.norm(dim=1, keepdim=True).clamp(min=eps)
    gt = gt / gt.norm(dim=1, keepdim=True).clamp(min=eps)
    cosine = (pred * gt).sum(dim=1).clamp(-1, 1)
    return torch.rad2deg(torch.acos(cosine))


def normal_error_sums(
        pred: Tensor,
        gt: Tensor,
        thresholds: Sequence[float] = NORMAL_ANGLE_THRESHOLDS
) -> Dict[str, float]:
    """Sums of the surface-normal errors of valid pixels.

    Args:
        pred (Tensor): Predicted normals ``(N, 3)`` in unit-vector
            components (as the L1 is reported).
        gt (Tensor): True normals ``(N, 3)``.
        thresholds (Sequence[float]): Angles (degrees) of the
            ``within_<t>`` counts.

    Returns:
        dict[str, float]: ``pixels`` (N), ``abs_error`` (sum of
        ``|pred - gt|`` over pixels and channels), ``angle`` (sum of the
        angles in degrees) and ``within_<t>`` (pixels with an angle
        ``< t``).
    """
    angles = normal_angles(pred, gt)
    # one host transfer for all the sums
    abs_error, angle, *within = torch.stack(
        [(pred.double() - gt.double()).abs().sum(),
         angles.sum()] + [(angles < t).sum().double()
                          for t in thresholds]).tolist()
    sums = dict(
        pixels=float(angles.numel()), abs_error=abs_error, angle=angle)
    sums.update((f'within_{t:g}', n) for t, n in zip(thresholds, within))
    return sums


@METRICS.register_module()
class SurfaceNormalMetric(BaseMetric):
    """Surface-normal errors over the valid pixels of the whole test set.

    Reads ``pred_depth_map`` / ``gt_depth_map`` ``(3, H, W)`` (the dense
    regression fields) and the optional ``gt_valid_mask`` (absent: all
    valid) and reports, pooled over every valid pixel:

    - ``l1``: the mean ``|pred - gt|`` over pixels x channels in the
      targets' own encoding (the training loss; Taskonomy's normal L1 when
      ``encoding='unit_interval'``);
    - ``mean_angle``: the mean angle in degrees between the normalised
      prediction and the ground truth (:func:`normal_angles`);
    - ``within_11.25``, ``within_22.5``, ``within_30``: the percentage of
      pixels whose angle is below the threshold.

    Args:
        encoding (str): How the maps hold normals: ``'unit'`` (components
            in [-1, 1], e.g. the synthetic scenes' decoded normals) or
            ``'unit_interval'`` (``(n + 1) / 2`` in [0, 1], Taskonomy's
            PNG divided by 255); angles use ``2 x - 1`` then.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Prefix of the metric names.
    """

    ENCODINGS = ('unit', 'unit_interval')

    def __init__(self,
                 encoding: str = 'unit',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if encoding not in self.ENCODINGS:
            raise ValueError(f'encoding must be one of {self.ENCODINGS}, '
                             f'got {encoding!r}')
        self.encoding = encoding

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store the error sums of each image."""
        name = type(self).__name__
        for sample in data_samples:
            pred, gt = _valid_elements(sample, name)
            if _field(sample, 'gt_depth_map').shape[0] != 3:
                raise ValueError(
                    f"{name}: sample '{_sample_path(sample)}' has "
                    f"{_field(sample, 'gt_depth_map').shape[0]} channels; "
                    'surface normals have 3')
            # _valid_elements flattens channel-major: (3, N) -> (N, 3)
            pred = pred.reshape(3, -1).T.double()
            gt = gt.reshape(3, -1).T.double()
            if self.encoding == 'unit_interval':
                # |(2p - 1) - (2g - 1)| / 2 = |p - g|: the L1 in the
                # maps' own encoding
                sums = normal_error_sums(2 * pred - 1, 2 * gt - 1)
                sums['abs_error'] /= 2
            else:
                sums = normal_error_sums(pred, gt)
            self.results.append(sums)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Pool the sums of every image."""
        total = {k: sum(r[k] for r in results) for k in results[0]} \
            if results else {}
        if not total or total['pixels'] == 0:
            raise ValueError(f'{type(self).__name__}: no valid pixel was '
                             'evaluated')
        pixels = total['pixels']
        out = dict(
            l1=total['abs_error'] / (3 * pixels),
            mean_angle=total['angle'] / pixels)
        for t in NORMAL_ANGLE_THRESHOLDS:
            out[f'within_{t:g}'] = 100 * total[f'within_{t:g}'] / pixels
        return out
