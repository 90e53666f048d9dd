# Copyright (c) mmmultimae contributors. All rights reserved.
"""Accuracy under image corruptions and the mean Corruption Error (mCE).

mmpretrain has top-k accuracy but no corruption benchmark metric, so this
one is ours. Definitions (Hendrycks & Dietterich, ICLR 2019): with
``E[c][s]`` the top-1 error of the model on corruption ``c`` at severity
``s`` and ``R[c][s]`` that of a reference model (AlexNet for ImageNet-C),

- ``CE_c = sum_s E[c][s] / sum_s R[c][s]`` and ``mCE = mean_c CE_c``;
- ``relative CE_c = sum_s (E[c][s] - E_clean) / sum_s (R[c][s] - R_clean)``
  and ``relative mCE = mean_c relative CE_c``.

AlexNet's errors are published as means over the 5 severities, so a
scalar reference ``R[c]`` stands for ``R[c][s] = R[c]`` at every severity
and needs all 5 severities of ``c`` to be evaluated.
"""
import logging
from collections import defaultdict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mmmultimae.evaluation.imagenet_variants import alexnet_corruption_errors
from mmmultimae.registry import METRICS

#: Severities of the ImageNet-C benchmark.
SEVERITIES = (1, 2, 3, 4, 5)

#: The ``corruption`` metainfo of an uncorrupted sample.
CLEAN = 'clean'

#: Error of a reference model per corruption (fraction): a scalar (mean over
#: the 5 severities) or ``{severity: error}``.
ReferenceErrors = Mapping[str, Union[float, Mapping[int, float]]]


def _reference_per_severity(reference: ReferenceErrors, corruption: str,
                            severities: Sequence[int]) -> np.ndarray:
    """``R[c][s]`` for ``severities`` (fractions)."""
    if corruption not in reference:
        raise KeyError(f'the reference has no error for corruption '
                       f'{corruption!r} (it has {sorted(reference)})')
    ref = reference[corruption]
    if isinstance(ref, Mapping):
        missing = [s for s in severities if s not in ref]
        if missing:
            raise KeyError(f'the reference has no error for {corruption!r} '
                           f'at severities {missing}')
        return np.array([float(ref[s]) for s in severities])
    if sorted(severities) != list(SEVERITIES):
        raise ValueError(
            f'the reference error of {corruption!r} is a mean over '
            f'severities {list(SEVERITIES)}; the model was evaluated at '
            f'{sorted(severities)}')
    return np.full(len(severities), float(ref))


def corruption_errors(
        errors: Mapping[str, Mapping[int, float]],
        reference: ReferenceErrors) -> Tuple[Dict[str, float], float]:
    """Corruption Errors and their mean.

    Args:
        errors (Mapping[str, Mapping[int, float]]): Top-1 error (fraction)
            of the model per corruption and severity.
        reference (ReferenceErrors): The reference model's errors.

    Returns:
        tuple[dict[str, float], float]: ``CE_c`` per corruption and the
        mCE (fractions, 1.0 = as bad as the reference).
    """
    if not errors:
        raise ValueError('no corruption errors to average')
    ce = {}
    for name, by_severity in errors.items():
        severities = sorted(by_severity)
        model = np.array([by_severity[s] for s in severities], dtype=float)
        ref = _reference_per_severity(reference, name, severities)
        if ref.sum() <= 0:
            raise ValueError(f'the reference has no error on {name!r}: its '
                             'corruption error is undefined')
        ce[name] = float(model.sum() / ref.sum())
    return ce, float(np.mean(list(ce.values())))


def relative_corruption_errors(
        errors: Mapping[str, Mapping[int, float]], clean_error: float,
        reference: ReferenceErrors,
        reference_clean_error: float) -> Tuple[Dict[str, float], float]:
    """Relative Corruption Errors (degradation from the clean error, over
    the reference's degradation) and their mean.

    Args:
        errors (Mapping[str, Mapping[int, float]]): Top-1 error (fraction)
            of the model per corruption and severity.
        clean_error (float): The model's error on the clean images.
        reference (ReferenceErrors): The reference model's errors.
        reference_clean_error (float): The reference's clean error.

    Returns:
        tuple[dict[str, float], float]: relative ``CE_c`` and their mean.
    """
    rel = {}
    for name, by_severity in errors.items():
        severities = sorted(by_severity)
        model = np.array([by_severity[s] for s in severities], dtype=float)
        ref = _reference_per_severity(reference, name, severities)
        denominator = float((ref - reference_clean_error).sum())
        if denominator <= 0:
            raise ValueError(
                f'the reference is not worse on {name!r} than on clean '
                'images: its relative corruption error is undefined')
        rel[name] = float((model - clean_error).sum() / denominator)
    return rel, float(np.mean(list(rel.values())))


def _one_label(value) -> torch.Tensor:
    """A label (tensor of one element, or int) as a 0-d tensor (no host
    sync)."""
    value = torch.as_tensor(value)
    if value.numel() != 1:
        raise ValueError(f'expected one label, got shape '
                         f'{tuple(value.shape)}')
    return value.reshape(()).long()


def top1_correct(samples: Sequence[Mapping]) -> List[bool]:
    """Whether each classification data sample (dict of mmpretrain's
    ``DataSample``) is right: argmax of ``pred_score``, else
    ``pred_label``, against ``gt_label``. The batch's predictions and
    labels are compared on their device and copied to the host once."""
    preds, labels = [], []
    for sample in samples:
        if 'gt_label' not in sample:
            raise KeyError('the data sample has no gt_label')
        if 'pred_score' in sample:
            preds.append(torch.as_tensor(sample['pred_score']).argmax())
        elif 'pred_label' in sample:
            preds.append(_one_label(sample['pred_label']))
        else:
            raise KeyError('the data sample has neither pred_score nor '
                           'pred_label')
        labels.append(_one_label(sample['gt_label']))
    if not preds:
        return []
    preds, labels = torch.stack(preds), torch.stack(labels)
    return (preds == labels.to(preds.device)).tolist()


@METRICS.register_module()
class MeanCorruptionError(BaseMetric):
    """Top-1 accuracy per corruption and severity, and the mCE.

    Every data sample carries metainfo ``corruption`` (a name, or
    ``'clean'`` / absent for an uncorrupted image) and ``severity``
    (1..5): :class:`~mmmultimae.datasets.transforms.ImageCorruption` sets
    both (pack them as meta keys), and ``tools/analysis_tools/
    eval_robustness.py`` tags the ImageNet-C folders with them.

    Reports (percent): ``accuracy/<c>/<s>``, ``accuracy/<c>`` (mean over
    its severities), ``accuracy/clean`` (when clean samples were seen),
    ``mean_accuracy`` (mean over corruptions of ``accuracy/<c>``) and
    ``mean_error`` (``100 - mean_accuracy``, the unnormalised mCE),
    ``relative_mean_error`` (``mean_c`` of the drop from clean) with clean
    samples, ``CE/<c>`` and ``mCE`` with a reference, ``relative_mCE`` with
    a reference clean error and clean samples; ``num_corruptions``. A
    normalised number that is undefined (a reference with no error, or no
    drop from clean, on a corruption) is left out with a warning.

    Args:
        reference (str | Mapping | None): Errors of the reference model
            (fractions): ``'alexnet'`` (default, ImageNet-C's published
            AlexNet errors, mean over severities), a mapping corruption ->
            error or -> ``{severity: error}`` (key ``'clean'``: its clean
            error, for the relative mCE), or None (no normalised numbers).
        collect_device (str): Device of the result collection.
        prefix (str, optional): Metric prefix (mmengine's).
    """

    #: keys are reported as they are (no ``<prefix>/``)
    default_prefix = ''

    def __init__(self,
                 reference: Union[str, ReferenceErrors, None] = 'alexnet',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if reference == 'alexnet':
            reference = alexnet_corruption_errors()
        elif isinstance(reference, str):
            raise ValueError(f"reference must be 'alexnet', a mapping or "
                             f'None, got {reference!r}')
        reference = dict(reference) if reference is not None else None
        self.reference_clean_error = None
        if reference is not None and CLEAN in reference:
            self.reference_clean_error = float(reference.pop(CLEAN))
        self.reference = reference

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Record (corruption, severity, correct) of each sample."""
        for sample, correct in zip(data_samples, top1_correct(data_samples)):
            corruption = sample.get('corruption') or CLEAN
            if corruption == CLEAN:
                severity = 0
            else:
                if 'severity' not in sample:
                    raise KeyError(f'sample of corruption {corruption!r} '
                                   'has no severity metainfo')
                severity = int(_one_label(sample['severity']))
            self.results.append((str(corruption), severity, correct))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Accuracies and (normalised) mean corruption errors."""
        correct = defaultdict(list)
        for corruption, severity, ok in results:
            correct[(corruption, severity)].append(ok)
        clean = correct.pop((CLEAN, 0), None)
        if not correct:
            raise ValueError('MeanCorruptionError saw no corrupted sample')
        errors: Dict[str, Dict[int, float]] = defaultdict(dict)
        for (corruption, severity), oks in correct.items():
            errors[corruption][severity] = 1.0 - float(np.mean(oks))

        out: Dict[str, float] = {}
        per_corruption = {}
        for corruption in errors:
            for severity in sorted(errors[corruption]):
                out[f'accuracy/{corruption}/{severity}'] = 100 * (
                    1 - errors[corruption][severity])
            per_corruption[corruption] = 1 - float(
                np.mean(list(errors[corruption].values())))
            out[f'accuracy/{corruption}'] = 100 * per_corruption[corruption]
        out['mean_accuracy'] = 100 * float(
            np.mean(list(per_corruption.values())))
        out['mean_error'] = 100 - out['mean_accuracy']
        out['num_corruptions'] = len(errors)
        clean_error = None
        if clean is not None:
            clean_error = 1.0 - float(np.mean(clean))
            out['accuracy/clean'] = 100 * (1 - clean_error)
            out['relative_mean_error'] = 100 * float(
                np.mean([(1 - acc) - clean_error
                         for acc in per_corruption.values()]))
        if self.reference is None:
            return out
        try:
            ce, mce = corruption_errors(errors, self.reference)
        except ValueError as err:  # a reference without errors
            print_log(f'MeanCorruptionError: no mCE: {err}', 'current',
                      logging.WARNING)
            return out
        out.update({f'CE/{c}': 100 * v for c, v in ce.items()})
        out['mCE'] = 100 * mce
        if clean_error is None or self.reference_clean_error is None:
            return out
        try:
            _, rel = relative_corruption_errors(errors, clean_error,
                                                self.reference,
                                                self.reference_clean_error)
            out['relative_mCE'] = 100 * rel
        except ValueError as err:
            print_log(f'MeanCorruptionError: no relative mCE: {err}',
                      'current', logging.WARNING)
        return out
