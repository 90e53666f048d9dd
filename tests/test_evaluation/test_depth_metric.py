# Copyright (c) mmmultimae contributors. All rights reserved.
import math

import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from official_fixtures import load_transfer_fixture

from mmmultimae.evaluation.metrics.depth_metric import (
    DEPTH_METRIC_KEYS, NYU_DEPTH_MEAN, NYU_DEPTH_STD, MaskedDepthMetric,
    official_nyu_depth_metrics)

#: official masked_nyu_metrics key -> ours (official 'log10' is the RMSE of
#: natural logs)
OFFICIAL_TO_OURS = dict(
    rmse='rmse',
    rel='abs_rel',
    srel='sq_rel',
    log10='rmse_log',
    delta_1='delta1',
    delta_2='delta2',
    delta_3='delta3')


@pytest.fixture(scope='module')
def section():
    return load_transfer_fixture()['nyu_metrics']


def _official_case_inputs(section, case):
    inputs = section['inputs']
    preds, target, mask = inputs['preds'], inputs['target'], inputs[
        'mask_valid']
    builders = dict(
        masked=lambda: (preds, target, mask),
        no_mask=lambda: (preds, target, None),
        all_invalid=lambda: (preds, target, torch.zeros_like(mask)),
        nonpositive_pred=lambda: (inputs['nonpositive_pred']['preds'], target,
                                  inputs['nonpositive_pred']['mask_valid']))
    assert case in builders, f'unknown recorded case {case!r}'
    return builders[case]()


def _official_cases(section):
    keys = section['outputs']['returned_keys']
    return [
        c for c, v in section['outputs'].items()
        if isinstance(v, dict) and set(v) == set(keys)
    ]


def _sample(pred, gt, valid=None, path='img.png'):
    sample = SegDataSample(metainfo=dict(img_path=path))
    sample.pred_depth_map = PixelData(data=pred)
    sample.gt_depth_map = PixelData(data=gt)
    if valid is not None:
        sample.gt_valid_mask = PixelData(data=valid)
    return sample


def test_official_function_equals_recording(section):
    outputs = section['outputs']
    destd = outputs['destandardisation']
    assert (destd['NYU_MEAN'], destd['NYU_STD']) == (NYU_DEPTH_MEAN,
                                                     NYU_DEPTH_STD)
    cases = _official_cases(section)
    assert len(cases) >= 4
    for case in cases:
        ours = official_nyu_depth_metrics(
            *_official_case_inputs(section, case))
        assert list(ours) == outputs['returned_keys']
        for key, expected in outputs[case].items():
            if torch.isnan(expected):
                assert torch.isnan(ours[key]), (case, key)
            else:
                torch.testing.assert_close(
                    ours[key],
                    expected,
                    rtol=1e-6,
                    atol=0,
                    msg=f'{case}/{key}')


def _per_batch_samples(section, case):
    preds, target, mask = _official_case_inputs(section, case)
    if mask is None:
        mask = torch.ones_like(target, dtype=torch.bool)
    return [
        _sample(p, t, m, f'{case}_{i}.png')
        for i, (p, t, m) in enumerate(zip(preds, target, mask))
    ]


def test_per_batch_protocol_is_mean_of_official_batches(section):
    """Two evaluation batches (the masked and the unmasked inputs): the
    per-batch protocol is the unweighted mean of official per batch."""
    metric = MaskedDepthMetric(
        protocol='per_batch',
        depth_mean=NYU_DEPTH_MEAN,
        depth_std=NYU_DEPTH_STD)
    cases = ('masked', 'no_mask')
    for case in cases:
        metric.process({}, _per_batch_samples(section, case))
    assert len(metric.results) == 2
    ours = metric.compute_metrics(metric.results)
    assert list(ours) == list(DEPTH_METRIC_KEYS)
    for official, key in OFFICIAL_TO_OURS.items():
        expected = sum(section['outputs'][c][official].item()
                       for c in cases) / 2
        assert ours[key] == pytest.approx(expected, rel=1e-6), key


def test_nonpositive_predictions_stay_finite(section):
    """Official guard: ratios and logs clamp at 1e-6 (no NaN)."""
    metric = MaskedDepthMetric(
        protocol='per_batch',
        depth_mean=NYU_DEPTH_MEAN,
        depth_std=NYU_DEPTH_STD)
    metric.process({}, _per_batch_samples(section, 'nonpositive_pred'))
    ours = metric.compute_metrics(metric.results)
    record = section['outputs']['nonpositive_pred']
    for official, key in OFFICIAL_TO_OURS.items():
        assert ours[key] == pytest.approx(record[official].item(), rel=1e-6)
    assert math.isfinite(ours['log10'])


def _toy_samples():
    # image 0: gt [1, 2] (third pixel invalid: gt 0), pred [1, 4]
    # image 1: gt [1, 1, 1, 1], pred [2, 1, 1, 1]
    return [
        _sample(
            torch.tensor([[[1., 4., 9.]]]),
            torch.tensor([[[1., 2., 0.]]]),
            path='a.png'),
        _sample(
            torch.tensor([[[2., 1.], [1., 1.]]]),
            torch.ones(1, 2, 2),
            path='b.png'),
    ]


def test_per_image_and_per_batch_hand_computed():
    per_image = MaskedDepthMetric(protocol='per_image')
    per_image.process({}, _toy_samples())
    image = per_image.compute_metrics(per_image.results)
    per_batch = MaskedDepthMetric(protocol='per_batch')
    per_batch.process({}, _toy_samples())
    batch = per_batch.compute_metrics(per_batch.results)
    # rmse: image 0 sqrt((0 + 4) / 2), image 1 sqrt(1 / 4);
    # batch sqrt(5 / 6)
    assert image['rmse'] == pytest.approx((2**.5 + .5) / 2)
    assert batch['rmse'] == pytest.approx((5 / 6)**.5)
    # abs_rel: image 0 (0 + 2 / 2) / 2 = .5, image 1 1 / 4; batch 2 / 6
    assert image['abs_rel'] == pytest.approx((.5 + .25) / 2)
    assert batch['abs_rel'] == pytest.approx(2 / 6)
    # sq_rel: image 0 (4 / 2) / 2 = 1, image 1 1 / 4; batch 3 / 6
    assert image['sq_rel'] == pytest.approx((1 + .25) / 2)
    assert batch['sq_rel'] == pytest.approx(3 / 6)
    # ratio 2 (> 1.25**3) at one pixel of each image; 1 elsewhere
    assert image['delta1'] == pytest.approx((.5 + .75) / 2)
    assert batch['delta1'] == pytest.approx(4 / 6)
    assert image['delta3'] == image['delta1']
    ln2 = math.log(2)
    assert image['rmse_log'] == pytest.approx(
        ((ln2**2 / 2)**.5 + (ln2**2 / 4)**.5) / 2)
    assert batch['rmse_log'] == pytest.approx((2 * ln2**2 / 6)**.5)
    # a real log10 error: mean |log10 p - log10 t|
    lg2 = math.log10(2)
    assert image['log10'] == pytest.approx((lg2 / 2 + lg2 / 4) / 2)
    assert batch['log10'] == pytest.approx(2 * lg2 / 6)


def test_clamping_and_valid_mask():
    pred = torch.tensor([[[0.5, 20., 3.]]])
    gt = torch.tensor([[[1., 10., 3.]]])
    clamped = MaskedDepthMetric(min_depth=1., max_depth=10.)
    clamped.process({}, [_sample(pred, gt)])
    assert clamped.compute_metrics(clamped.results)['rmse'] == 0
    masked = MaskedDepthMetric()
    valid = torch.tensor([[[False, False, True]]])
    masked.process({}, [_sample(pred, gt, valid)])
    assert masked.compute_metrics(masked.results)['abs_rel'] == 0


def test_evaluator_loop_and_registry():
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        evaluator = Evaluator(
            dict(type='MaskedDepthMetric', protocol='per_batch'))
    assert isinstance(evaluator.metrics[0], MaskedDepthMetric)
    samples = _toy_samples()
    evaluator.process(samples[:1], {})
    evaluator.process(samples[1:], {})
    metrics = evaluator.evaluate(size=2)
    # two batches of one image each: per-batch = per-image here
    assert metrics['rmse'] == pytest.approx((2**.5 + .5) / 2)
    assert set(metrics) == set(DEPTH_METRIC_KEYS)


def test_images_without_valid_pixels():
    empty = _sample(
        torch.ones(1, 2, 2), torch.zeros(1, 2, 2), path='empty.png')
    metric = MaskedDepthMetric()
    with pytest.raises(ValueError, match="'empty.png' has no valid depth"):
        metric.process({}, [empty])
    skipping = MaskedDepthMetric(skip_empty=True)
    skipping.process({}, [empty] + _toy_samples()[1:])
    assert len(skipping.results) == 1
    assert skipping.compute_metrics(skipping.results)['rmse'] == .5
    with pytest.raises(ValueError, match='no image'):
        MaskedDepthMetric(skip_empty=True).compute_metrics([])
    batch = MaskedDepthMetric(protocol='per_batch')
    with pytest.raises(ValueError, match="batch of 'empty.png'"):
        batch.process({}, [empty])


def test_bad_inputs_and_arguments():
    metric = MaskedDepthMetric()
    with pytest.raises(TypeError, match="'m.png'.*expected bool"):
        metric.process({}, [
            _sample(
                torch.ones(1, 2, 2), torch.ones(1, 2, 2), torch.ones(1, 2, 2),
                'm.png')
        ])
    with pytest.raises(ValueError, match=r'expected both \(1, H, W\)'):
        metric.process({}, [_sample(torch.ones(1, 2, 2), torch.ones(1, 2, 3))])
    with pytest.raises(KeyError, match='pred_depth_map'):
        metric.process({}, [dict(gt_depth_map=dict(data=torch.ones(1, 2, 2)))])
    with pytest.raises(ValueError, match='protocol'):
        MaskedDepthMetric(protocol='per_pixel')
    with pytest.raises(ValueError, match='depth_std'):
        MaskedDepthMetric(depth_mean=1.)
    with pytest.raises(ValueError, match='min_depth'):
        MaskedDepthMetric(min_depth=2., max_depth=1.)
