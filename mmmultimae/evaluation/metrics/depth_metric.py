# Copyright (c) mmmultimae contributors. All rights reserved.
"""Depth estimation metrics with valid masks, per-image or per-batch."""
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from torch import Tensor

from mmmultimae.registry import METRICS

#: Official MultiMAE NYUv2 target standardisation ``(d - mean) / std``, in
#: raw depth-PNG units (``utils/data_constants.py`` NYU_MEAN / NYU_STD).
NYU_DEPTH_MEAN = 2070.7764
NYU_DEPTH_STD = 777.5723

#: Keys of :class:`MaskedDepthMetric`, in output order.
DEPTH_METRIC_KEYS = ('delta1', 'delta2', 'delta3', 'abs_rel', 'sq_rel', 'rmse',
                     'rmse_log', 'log10')

_SUM_KEYS = ('count', 'delta1', 'delta2', 'delta3', 'abs_rel', 'sq_rel',
             'sq_err', 'sq_log', 'abs_log10')


def depth_error_sums(pred: Tensor,
                     gt: Tensor,
                     group: Tensor,
                     num_groups: int,
                     eps: float = 1e-6) -> Dict[str, Tensor]:
    """Per-group sums of the element-wise depth errors of valid pixels.

    Ratios and logarithms use ``max(x, eps)`` for both maps (official
    MultiMAE's guard), so a non-positive prediction gives a large but
    finite error instead of NaN; squared and absolute differences use the
    raw values. Sums are accumulated in float64.

    Args:
        pred (Tensor): Predicted depth of the valid pixels ``(N,)``.
        gt (Tensor): Ground-truth depth ``(N,)``.
        group (Tensor): int64 group (image or batch) of each pixel
            ``(N,)``, in ``[0, num_groups)``.
        num_groups (int): Number of groups ``G``.
        eps (float): Lower clamp inside ratios and logs. Defaults to 1e-6.

    Returns:
        dict[str, Tensor]: ``(G,)`` float64 sums: ``count``, ``delta1..3``
        (pixels with ``max(p / t, t / p) < 1.25 ** k``), ``abs_rel``
        (``|p - t| / t``), ``sq_rel`` (``(p - t) ** 2 / t``), ``sq_err``,
        ``sq_log`` (``(ln p - ln t) ** 2``) and ``abs_log10``.
    """
    pred, gt = pred.double(), gt.double()
    pred_c, gt_c = pred.clamp(min=eps), gt.clamp(min=eps)
    diff = pred - gt
    ratio = torch.maximum(pred / gt_c, gt / pred_c)
    log_diff = pred_c.log() - gt_c.log()
    terms = dict(
        count=torch.ones_like(diff),
        delta1=(ratio < 1.25).double(),
        delta2=(ratio < 1.25**2).double(),
        delta3=(ratio < 1.25**3).double(),
        abs_rel=diff.abs() / gt_c,
        sq_rel=diff.square() / gt_c,
        sq_err=diff.square(),
        sq_log=log_diff.square(),
        abs_log10=(pred_c.log10() - gt_c.log10()).abs())
    out = {}
    for key in _SUM_KEYS:
        out[key] = pred.new_zeros(num_groups).index_add_(0, group, terms[key])
    return out


def depth_metrics_from_sums(sums: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Turn :func:`depth_error_sums` into the metrics of
    ``DEPTH_METRIC_KEYS`` (a group without pixels gives NaN).

    Args:
        sums (dict[str, Tensor]): ``(G,)`` sums per group.

    Returns:
        dict[str, Tensor]: ``(G,)`` float64 metrics per group.
    """
    count = sums['count']
    return dict(
        delta1=sums['delta1'] / count,
        delta2=sums['delta2'] / count,
        delta3=sums['delta3'] / count,
        abs_rel=sums['abs_rel'] / count,
        sq_rel=sums['sq_rel'] / count,
        rmse=(sums['sq_err'] / count).sqrt(),
        rmse_log=(sums['sq_log'] / count).sqrt(),
        log10=sums['abs_log10'] / count)


def official_nyu_depth_metrics(
        preds: Tensor,
        target: Tensor,
        valid_mask: Optional[Tensor] = None,
        depth_mean: float = NYU_DEPTH_MEAN,
        depth_std: float = NYU_DEPTH_STD) -> Dict[str, Tensor]:
    """Official MultiMAE ``masked_nyu_metrics``, for checking protocols.

    Both maps are de-standardised with ``x * depth_std + depth_mean``; the
    reductions run over every valid pixel of the batch jointly. Official
    names are kept: ``rel`` is the absolute relative error, ``srel`` the
    squared relative error, and ``log10`` is NOT a log10 error but the RMSE
    of natural logs (our ``rmse_log``). An all-invalid mask gives NaN
    everywhere, as official. The registered :class:`MaskedDepthMetric`
    computes the same quantities (with ``protocol='per_batch'``) under the
    usual names plus a real log10 error.

    Args:
        preds (Tensor): Standardised predictions ``(B, 1, H, W)``.
        target (Tensor): Standardised targets ``(B, 1, H, W)``.
        valid_mask (Tensor, optional): Bool ``(B, 1, H, W)``, True =
            valid. None = all valid.
        depth_mean (float): De-standardisation mean. Defaults to NYU's.
        depth_std (float): De-standardisation std. Defaults to NYU's.

    Returns:
        dict[str, Tensor]: 0-d float32 tensors ``rmse, rel, srel, log10,
        delta_1, delta_2, delta_3``.
    """
    if preds.shape != target.shape:
        raise ValueError(f'preds and target must have the same shape, got '
                         f'{tuple(preds.shape)} and {tuple(target.shape)}')
    if valid_mask is None:
        valid_mask = torch.ones_like(target, dtype=torch.bool)
    elif valid_mask.dtype != torch.bool or valid_mask.shape != preds.shape:
        raise TypeError('valid_mask must be a bool tensor of shape '
                        f'{tuple(preds.shape)}, got {valid_mask.dtype} '
                        f'{tuple(valid_mask.shape)}')
    pred = preds.float()[valid_mask] * depth_std + depth_mean
    gt = target.float()[valid_mask] * depth_std + depth_mean
    group = torch.zeros(pred.numel(), dtype=torch.long, device=pred.device)
    metrics = depth_metrics_from_sums(depth_error_sums(pred, gt, group, 1))
    names = dict(
        rmse='rmse',
        rel='abs_rel',
        srel='sq_rel',
        log10='rmse_log',
        delta_1='delta1',
        delta_2='delta2',
        delta_3='delta3')
    return {k: metrics[v][0].float() for k, v in names.items()}


def _field(sample: Any, key: str) -> Optional[Tensor]:
    """``sample[key].data`` of a dict or data element, None if absent."""
    if isinstance(sample, dict):
        element = sample.get(key)
        if element is None:
            return None
        return element['data'] if isinstance(element, dict) else element.data
    element = getattr(sample, key, None)
    return None if element is None else element.data


def _sample_path(sample: Any) -> str:
    get = sample.get if isinstance(sample, dict) else sample.metainfo.get
    path = get('img_path', '?')
    return str(path.get('rgb', path) if isinstance(path, dict) else path)


@METRICS.register_module()
class MaskedDepthMetric(BaseMetric):
    """Depth metrics over valid pixels: ``delta1..3``, ``abs_rel``,
    ``sq_rel``, ``rmse``, ``rmse_log`` and ``log10``.

    Reads each data sample's ``pred_depth_map.data`` and
    ``gt_depth_map.data`` ``(1, H, W)`` and the optional
    ``gt_valid_mask.data`` (bool, True = valid; absent: valid where the
    ground truth is > 0). Predictions are clamped to ``[min_depth,
    max_depth]`` when given. With ``depth_mean`` / ``depth_std`` both maps
    are first de-standardised (``x * std + mean``), e.g. for official
    MultiMAE NYUv2 targets (:data:`NYU_DEPTH_MEAN`, :data:`NYU_DEPTH_STD`).
    Ratios and logs use ``max(x, 1e-6)`` (see :func:`depth_error_sums`).
    ``log10`` is the mean absolute log10 error (official MultiMAE's
    "log10" is our ``rmse_log``).

    Protocols:

    - ``'per_image'``: metrics of each image over its valid pixels, then
      the mean over images (mmseg's ``DepthMetric``, BTS, DPT).
    - ``'per_batch'``: metrics over all valid pixels of each evaluation
      batch jointly, then the unweighted mean over batches (official
      MultiMAE: the numbers depend on the batch size). In distributed
      evaluation each rank's batches are gathered as a list; padding
      samples that a distributed sampler adds to even out the ranks cannot
      be removed per batch and are counted.

    An image (``per_image``) or batch (``per_batch``) without a valid pixel
    has no metric (official: NaN that then poisons the mean): it raises a
    ``ValueError`` naming the image, or with ``skip_empty=True`` it is left
    out with a logged warning.

    mmseg's ``DepthMetric`` is not subclassed: it keeps whole device
    tensors in ``results``, cannot take a valid mask or clamp predictions,
    has only the per-image protocol and its ``depth_metrics`` argument
    crashes (``isinstance(x, [tuple, list])``).

    Args:
        protocol (str): ``'per_image'`` or ``'per_batch'``. Defaults to
            ``'per_image'``.
        min_depth (float, optional): Lower clamp of predictions. None: no
            clamp. Defaults to None.
        max_depth (float, optional): Upper clamp of predictions. None: no
            clamp. Defaults to None.
        depth_mean (float, optional): Mean of standardised maps. Give it
            together with ``depth_std``. Defaults to None.
        depth_std (float, optional): Std of standardised maps.
        skip_empty (bool): Skip images/batches without valid pixels instead
            of raising. Defaults to False.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names.
    """

    PROTOCOLS = ('per_image', 'per_batch')

    def __init__(self,
                 protocol: str = 'per_image',
                 min_depth: Optional[float] = None,
                 max_depth: Optional[float] = None,
                 depth_mean: Optional[float] = None,
                 depth_std: Optional[float] = None,
                 skip_empty: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if protocol not in self.PROTOCOLS:
            raise ValueError(f'protocol must be one of {self.PROTOCOLS}, '
                             f'got {protocol!r}')
        if (depth_mean is None) != (depth_std is None):
            raise ValueError('give both depth_mean and depth_std, or neither')
        if (min_depth is not None and max_depth is not None
                and min_depth > max_depth):
            raise ValueError(f'min_depth={min_depth} > max_depth={max_depth}')
        self.protocol = protocol
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.depth_mean = depth_mean
        self.depth_std = depth_std
        self.skip_empty = skip_empty

    def _valid_pixels(self, sample: Any) -> Tuple[Tensor, Tensor]:
        """Predicted and ground-truth depth of the valid pixels ``(N,)``."""
        pred = _field(sample, 'pred_depth_map')
        gt = _field(sample, 'gt_depth_map')
        if pred is None or gt is None:
            raise KeyError(
                f"MaskedDepthMetric: sample '{_sample_path(sample)}'"
                ' needs pred_depth_map and gt_depth_map')
        if pred.shape != gt.shape or pred.dim() != 3 or pred.shape[0] != 1:
            raise ValueError(
                f"MaskedDepthMetric: sample '{_sample_path(sample)}' has "
                f'pred_depth_map {tuple(pred.shape)} and gt_depth_map '
                f'{tuple(gt.shape)}; expected both (1, H, W)')
        pred, gt = pred.float(), gt.to(pred.device).float()
        if self.depth_mean is not None:
            pred = pred * self.depth_std + self.depth_mean
            gt = gt * self.depth_std + self.depth_mean
        valid = _field(sample, 'gt_valid_mask')
        if valid is None:
            valid = gt > 0
        elif valid.dtype != torch.bool or valid.shape != gt.shape:
            raise TypeError(
                f"MaskedDepthMetric: sample '{_sample_path(sample)}' has a "
                f'gt_valid_mask of {valid.dtype} {tuple(valid.shape)}; '
                f'expected bool {tuple(gt.shape)}')
        valid = valid.to(pred.device)
        if self.min_depth is not None or self.max_depth is not None:
            pred = pred.clamp(min=self.min_depth, max=self.max_depth)
        return pred[valid], gt[valid]

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store the metrics of each image (``per_image``) or of the batch
        (``per_batch``) as floats."""
        if not data_samples:
            return
        preds, gts, groups = [], [], []
        for index, sample in enumerate(data_samples):
            pred, gt = self._valid_pixels(sample)
            group = 0 if self.protocol == 'per_batch' else index
            preds.append(pred)
            gts.append(gt)
            groups.append(torch.full_like(pred, group, dtype=torch.long))
        num_groups = len(data_samples) if self.protocol == 'per_image' else 1
        sums = depth_error_sums(
            torch.cat(preds), torch.cat(gts), torch.cat(groups), num_groups)
        metrics = depth_metrics_from_sums(sums)
        # One transfer per batch; one column per image (or the batch).
        columns = torch.stack([sums['count']] +
                              [metrics[k] for k in DEPTH_METRIC_KEYS]).T
        for index, (count, *values) in enumerate(columns.tolist()):
            if count > 0:
                self.results.append(dict(zip(DEPTH_METRIC_KEYS, values)))
                continue
            if self.protocol == 'per_image':
                what = f"image '{_sample_path(data_samples[index])}'"
            else:
                paths = ', '.join(f"'{_sample_path(s)}'" for s in data_samples)
                what = f'batch of {paths}'
            if not self.skip_empty:
                raise ValueError(
                    f'MaskedDepthMetric: the {what} has no valid depth '
                    'pixel; pass skip_empty=True to leave such images out')
            print_log(
                f'MaskedDepthMetric: skipped the {what}: no valid depth pixel',
                logger='current',
                level=logging.WARNING)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Unweighted mean over the stored images or batches."""
        if not results:
            raise ValueError('MaskedDepthMetric: no image with valid depth '
                             'pixels was evaluated')
        return {
            key: sum(r[key] for r in results) / len(results)
            for key in DEPTH_METRIC_KEYS
        }
