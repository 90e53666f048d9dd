# Copyright (c) mmmultimae contributors. All rights reserved.
"""Mean Corruption Error (Hendrycks & Dietterich 2019) and its data."""
import pytest
import torch

from mmmultimae.datasets.transforms import COMMON_CORRUPTIONS
from mmmultimae.evaluation import (MeanCorruptionError, corruption_errors,
                                   relative_corruption_errors)
from mmmultimae.evaluation.imagenet_variants import alexnet_corruption_errors
from mmmultimae.registry import METRICS

# AlexNet's errors (%) as printed in Hendrycks & Dietterich (ICLR 2019),
# rounded to 0.1: an independent check of the shipped data file.
ALEXNET_PERCENT = [
    88.6, 89.4, 92.3, 82.0, 82.6, 78.6, 79.8, 86.7, 82.7, 81.9, 56.5, 85.3,
    64.6, 71.8, 60.7
]


def test_alexnet_errors_data():
    errors = alexnet_corruption_errors()
    assert list(errors) == list(COMMON_CORRUPTIONS)
    assert [round(100 * v, 1) for v in errors.values()] == ALEXNET_PERCENT
    assert errors['gaussian_noise'] == 0.886428
    errors['fog'] = 0.0  # a copy: the cache is not changed
    assert alexnet_corruption_errors()['fog'] == 0.819324


def test_corruption_errors_by_hand():
    errors = {
        'gaussian_noise': {
            1: 0.2,
            2: 0.3,
            3: 0.4,
            4: 0.5,
            5: 0.6
        },
        'fog': {
            1: 0.1,
            2: 0.1,
            3: 0.2,
            4: 0.2,
            5: 0.4
        }
    }
    ce, mce = corruption_errors(errors, alexnet_corruption_errors())
    assert ce['gaussian_noise'] == pytest.approx(2.0 / (5 * 0.886428))
    assert ce['fog'] == pytest.approx(1.0 / (5 * 0.819324))
    assert mce == pytest.approx((2.0 / 4.43214 + 1.0 / 4.09662) / 2)
    # a per-severity reference: sum_s E / sum_s R
    reference = {
        'gaussian_noise': {s: 0.5
                           for s in range(1, 6)},
        'fog': {
            1: 0.1,
            2: 0.2,
            3: 0.3,
            4: 0.4,
            5: 1.0
        }
    }
    ce, mce = corruption_errors(errors, reference)
    assert ce == pytest.approx({'gaussian_noise': 0.8, 'fog': 0.5})
    assert mce == pytest.approx(0.65)
    # relative: sum_s (E - E_clean) / sum_s (R - R_clean)
    rel, rel_mean = relative_corruption_errors(errors, 0.1, reference, 0.05)
    assert rel['gaussian_noise'] == pytest.approx((2.0 - 0.5) / (2.5 - 0.25))
    assert rel['fog'] == pytest.approx((1.0 - 0.5) / (2.0 - 0.25))
    assert rel_mean == pytest.approx((rel['gaussian_noise'] + rel['fog']) / 2)


def test_corruption_errors_bad_input():
    alexnet = alexnet_corruption_errors()
    with pytest.raises(ValueError, match=r'mean over severities'):
        corruption_errors({'fog': {1: 0.2, 2: 0.3}}, alexnet)
    with pytest.raises(KeyError, match="'saturate'"):
        corruption_errors({'saturate': {s: 0.2 for s in range(1, 6)}},
                          alexnet)
    with pytest.raises(KeyError, match=r'severities \[3\]'):
        corruption_errors({'fog': {3: 0.2}}, {'fog': {1: 0.5}})
    with pytest.raises(ValueError, match='no error'):
        corruption_errors({'fog': {1: 0.2}}, {'fog': {1: 0.0}})
    with pytest.raises(ValueError, match='not worse'):
        relative_corruption_errors({'fog': {1: 0.2}}, 0.1, {'fog': {1: 0.3}},
                                   0.3)
    with pytest.raises(ValueError, match='no corruption errors'):
        corruption_errors({}, alexnet)


def _sample(pred: int, gt: int, corruption=None, severity=None) -> dict:
    score = torch.zeros(10)
    score[pred] = 1.0
    sample = dict(pred_score=score, gt_label=torch.tensor([gt]))
    if corruption is not None:
        sample.update(corruption=corruption, severity=severity)
    return sample


def _samples(corruption, severity, num_right, num_wrong):
    return ([_sample(1, 1, corruption, severity)] * num_right +
            [_sample(2, 1, corruption, severity)] * num_wrong)


def test_metric_by_hand():
    """4 images per (corruption, severity); wrong counts per severity:
    gaussian_noise 0 1 1 2 3, fog 0 0 1 1 2; clean: 1 wrong of 4."""
    wrong = {'gaussian_noise': [0, 1, 1, 2, 3], 'fog': [0, 0, 1, 1, 2]}
    reference = dict(alexnet_corruption_errors(), clean=0.4)
    metric = METRICS.build(
        dict(type='MeanCorruptionError', reference=reference))
    samples = _samples(None, None, 3, 1)  # clean (no corruption metainfo)
    for corruption, counts in wrong.items():
        for severity, k in enumerate(counts, 1):
            samples += _samples(corruption, severity, 4 - k, k)
    metric.process({}, samples)
    out = metric.evaluate(len(samples))
    assert out['accuracy/gaussian_noise/5'] == pytest.approx(25.0)
    assert out['accuracy/fog/3'] == pytest.approx(75.0)
    assert out['accuracy/gaussian_noise'] == pytest.approx(100 * (1 - 7 / 20))
    assert out['accuracy/fog'] == pytest.approx(100 * (1 - 4 / 20))
    assert out['accuracy/clean'] == pytest.approx(75.0)
    assert out['mean_accuracy'] == pytest.approx(100 - 100 * (7 + 4) / 40)
    assert out['mean_error'] == pytest.approx(100 * 11 / 40)
    assert out['relative_mean_error'] == pytest.approx(
        100 * ((7 / 20 - 0.25) + (4 / 20 - 0.25)) / 2)
    ce_gn = (7 / 4) / (5 * 0.886428)
    ce_fog = 1.0 / (5 * 0.819324)
    assert out['CE/gaussian_noise'] == pytest.approx(100 * ce_gn)
    assert out['mCE'] == pytest.approx(100 * (ce_gn + ce_fog) / 2)
    rel_gn = (7 / 4 - 5 * 0.25) / (5 * (0.886428 - 0.4))
    rel_fog = (1.0 - 5 * 0.25) / (5 * (0.819324 - 0.4))
    assert out['relative_mCE'] == pytest.approx(100 * (rel_gn + rel_fog) / 2)
    assert out['num_corruptions'] == 2


def test_metric_without_reference_and_labels():
    metric = MeanCorruptionError(reference=None)
    # pred_label is used when there is no pred_score
    metric.process({}, [
        dict(pred_label=torch.tensor([3]), gt_label=torch.tensor([3]),
             corruption='fog', severity=2),
        dict(pred_label=torch.tensor([1]), gt_label=torch.tensor([3]),
             corruption='fog', severity=2),
    ])
    out = metric.evaluate(2)
    assert out == {
        'accuracy/fog/2': 50.0,
        'accuracy/fog': 50.0,
        'mean_accuracy': 50.0,
        'mean_error': 50.0,
        'num_corruptions': 1
    }


def test_metric_bad_input():
    with pytest.raises(ValueError, match="'alexnet'"):
        MeanCorruptionError(reference='resnet')
    metric = MeanCorruptionError()
    with pytest.raises(KeyError, match='severity'):
        metric.process({}, [dict(_sample(1, 1), corruption='fog')])
    metric.process({}, [_sample(1, 1)])
    with pytest.raises(ValueError, match='no corrupted sample'):
        metric.evaluate(1)
