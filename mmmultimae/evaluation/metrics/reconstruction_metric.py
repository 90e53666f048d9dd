# Copyright (c) mmmultimae contributors. All rights reserved.
"""Held-out reconstruction metrics of a masked pre-training model."""
import math
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric

from mmmultimae.registry import METRICS
from ..functional import mean_iou


def reduce_reconstruction_records(records: Sequence[dict]) -> Dict[str, float]:
    """Sum per-sample statistics over a set and turn them into scores.

    Args:
        records (Sequence[dict]): Per sample, ``stats``: ``{key: Tensor}``
            with a float64 ``(2,)`` [numerator, denominator] or ``(4, K)``
            class areas (see :func:`~mmmultimae.evaluation.class_areas`),
            as written by
            :func:`~mmmultimae.apis.reconstruction_eval.evaluate_batch`.

    Returns:
        dict[str, float]: In the order of the first record's keys,
        ``sum(numerator) / sum(denominator)`` (NaN if the denominator is 0)
        or the mean IoU of the summed areas.
    """
    if not records:
        raise ValueError('no samples to reduce: the held-out set is empty')
    keys = list(records[0]['stats'])
    totals: Dict[str, torch.Tensor] = {}
    for record in records:
        if list(record['stats']) != keys:
            raise ValueError(f'samples carry different statistics: {keys} '
                             f'and {list(record["stats"])}')
        for key, value in record['stats'].items():
            value = torch.as_tensor(value, dtype=torch.float64).cpu()
            totals[key] = totals[key] + value if key in totals else value
    out = {}
    for key, total in totals.items():
        if total.dim() == 2:
            out[key] = float(mean_iou(total))
        elif total.shape == (2, ):
            num, den = total.tolist()
            out[key] = num / den if den > 0 else math.nan
        else:
            raise ValueError(f'statistic {key!r} must be (2,) or (4, K), got '
                             f'{tuple(total.shape)}')
    return out


@METRICS.register_module()
class MaskedReconstructionMetric(BaseMetric):
    """Masked-token losses and cross-modal scores on a held-out set.

    Sums the per-sample statistics that
    :class:`~mmmultimae.engine.runners.MaskedReconstructionValLoop` computes
    (fixed masks per sample, the model and the constant baseline) over the
    whole set, so the scores do not depend on batching or on the number of
    processes (each rank processes a shard; mmengine's ``collect_results``
    gathers them). Keys (``recon/`` prefix by default; ``<head>`` the
    model's outputs, ``<inputs>`` the visible modalities of the cross-modal
    pass, e.g. ``rgb_only``):

    - ``loss_<head>``: masked-token loss of every head with the model's own
      sampler (the training objective), mean over samples; ``acc_<head>``:
      pixel accuracy on masked tokens of label heads;
    - ``<inputs>/loss_<head>``: loss of the heads whose target is not
      visible when only ``<inputs>`` are; ``<inputs>/acc_<head>`` and
      ``<inputs>/miou_<head>`` for label heads (fractions, mmseg's
      definitions over the whole set); ``<inputs>/l1_<head>`` and
      ``<inputs>/delta1_<head>`` for depth heads, in the units of the input
      depth (e.g. metres), the prediction de-standardised with the ground
      truth's own per-sample statistics (those that standardised the
      target);
    - ``baseline/<key>``: the same for the best constant prediction.

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to ``'recon'``.
        collect_dir (str, optional): Shared folder for ``'cpu'``
            collection.
    """

    default_prefix: Optional[str] = 'recon'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep the statistics of every sample."""
        for record in data_samples:
            if not isinstance(record, dict) or 'stats' not in record:
                raise TypeError(
                    'MaskedReconstructionMetric takes the per-sample records '
                    'of MaskedReconstructionValLoop (val_cfg=dict(type='
                    "'MaskedReconstructionValLoop')), got "
                    f'{type(record).__name__}')
            self.results.append(dict(stats=record['stats']))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Reduce the statistics of the whole set."""
        return reduce_reconstruction_records(results)
