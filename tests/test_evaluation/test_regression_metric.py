# Copyright (c) mmmultimae contributors. All rights reserved.
"""RegressionLossMetric (validation loss for save_best) and
SurfaceNormalMetric against the official losses and numpy."""
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.hooks import CheckpointHook
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from official_fixtures import load_transfer_fixture

from mmmultimae.evaluation.metrics import (NORMAL_METRIC_KEYS,
                                           RegressionLossMetric,
                                           SurfaceNormalMetric, normal_angles,
                                           normal_error_sums)


def _sample(pred, gt, valid=None, path='img.png'):
    sample = SegDataSample(metainfo=dict(img_path=path))
    sample.pred_depth_map = PixelData(data=pred)
    sample.gt_depth_map = PixelData(data=gt)
    if valid is not None:
        sample.gt_valid_mask = PixelData(data=valid)
    return sample.to_dict()


@pytest.fixture(scope='module')
def losses():
    return load_transfer_fixture()['losses']


@pytest.mark.parametrize('case', ['c1', 'c3'])
@pytest.mark.parametrize('loss', ['l1', 'berhu', 'mse'])
def test_per_batch_equals_the_official_batch_loss(losses, case, loss):
    inputs = losses['inputs']['cases'][case]
    expected = losses['outputs']['cases'][case]['depth'][loss]['masked']
    preds, target, mask = (inputs['preds'], inputs['target'],
                           inputs['mask_valid'])
    metric = RegressionLossMetric(loss=loss, protocol='per_batch')
    # one evaluation batch of the fixture's two images
    metric.process({}, [
        _sample(preds[i], target[i], mask[i], f'{i}.png') for i in range(2)
    ])
    value = metric.evaluate(2)[f'loss_{loss}']
    assert value == pytest.approx(float(expected), rel=1e-6)
    # two batches of one image: the unweighted mean of per-image losses
    metric = RegressionLossMetric(loss=loss, protocol='per_batch')
    for i in range(2):
        metric.process({}, [_sample(preds[i], target[i], mask[i])])
    assert metric.evaluate(2)[f'loss_{loss}'] == pytest.approx(
        _numpy_per_image_mean(preds, target, mask, loss), rel=1e-6)


def _numpy_per_image_mean(preds, target, mask, loss):
    values = []
    for p, t, m in zip(preds.numpy(), target.numpy(), mask.numpy()):
        m = np.broadcast_to(m, p.shape)
        d = (p - t)[m].astype(np.float64)
        if loss == 'l1':
            values.append(np.abs(d).mean())
        elif loss == 'mse':
            values.append((d**2).mean())
        else:
            c = max(0.2 * np.abs(d).max(), 1e-5)
            values.append(
                np.where(np.abs(d) < c, np.abs(d),
                         (d**2 + c**2) / (2 * c)).mean())
    return float(np.mean(values))


def test_per_image_is_batch_independent_and_checks_inputs(losses):
    inputs = losses['inputs']['cases']['c3']
    preds, target, mask = (inputs['preds'], inputs['target'],
                           inputs['mask_valid'])
    metric = RegressionLossMetric(loss='l1')
    metric.process({}, [_sample(preds[i], target[i], mask[i])
                        for i in range(2)])
    assert metric.evaluate(2)['loss_l1'] == pytest.approx(
        _numpy_per_image_mean(preds, target, mask, 'l1'), rel=1e-6)
    # no mask: every pixel valid
    metric.process({}, [_sample(preds[0], target[0])])
    assert metric.evaluate(1)['loss_l1'] == pytest.approx(
        float((preds[0] - target[0]).abs().mean()), rel=1e-6)
    with pytest.raises(TypeError, match='gt_valid_mask'):
        metric.process({}, [_sample(preds[0], target[0], mask[0].float())])
    with pytest.raises(ValueError, match=r'\(C, H, W\)'):
        metric.process({}, [_sample(preds[0], target[0][:1])])
    with pytest.raises(ValueError, match='loss must be'):
        RegressionLossMetric(loss='huber')
    with pytest.raises(ValueError, match='protocol'):
        RegressionLossMetric(protocol='per_pixel')


def test_all_invalid_sample_raises_or_is_skipped():
    pred, gt = torch.rand(1, 4, 4), torch.rand(1, 4, 4)
    empty = torch.zeros(1, 4, 4, dtype=torch.bool)
    full = torch.ones(1, 4, 4, dtype=torch.bool)
    metric = RegressionLossMetric(loss='berhu')
    with pytest.raises(ValueError, match="image 'hole.png' has no valid"):
        metric.process({}, [_sample(pred, gt, empty, 'hole.png')])
    metric = RegressionLossMetric(loss='l1', skip_empty=True)
    metric.process({}, [
        _sample(pred, gt, empty, 'hole.png'),
        _sample(pred, gt, full, 'ok.png')
    ])
    assert metric.evaluate(2)['loss_l1'] == pytest.approx(
        float((pred - gt).abs().mean()))
    # per batch: a batch with one valid image is fine
    metric = RegressionLossMetric(loss='l1', protocol='per_batch')
    metric.process({}, [_sample(pred, gt, empty), _sample(pred, gt, full)])
    assert metric.evaluate(2)['loss_l1'] == pytest.approx(
        float((pred - gt).abs().mean()))


def test_save_best_ranks_the_loss_lower_is_better():
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        evaluator = Evaluator(
            [dict(type='RegressionLossMetric', loss='l1', prefix=None)])
    pred, gt = torch.zeros(1, 2, 2), torch.ones(1, 2, 2)
    evaluator.process([_sample(pred, gt)])
    metrics = evaluator.evaluate(1)
    assert metrics == {'loss_l1': pytest.approx(1.0)}
    hook = CheckpointHook(interval=1, save_best='loss_l1')
    hook._init_rule(hook.rules, hook.key_indicators)
    assert hook.rules == ['less']


def test_normal_angles_and_sums_match_numpy():
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(50, 3))
    gt = rng.normal(size=(50, 3))
    gt /= np.linalg.norm(gt, axis=1, keepdims=True)
    pred[0] = 0  # a zero prediction is 90 degrees from everything
    pred[1] = 3 * gt[1]  # same direction: 0 degrees
    pred[2] = -gt[2]  # opposite: 180 degrees
    unit = pred / np.maximum(np.linalg.norm(pred, axis=1, keepdims=True),
                             1e-6)
    expected = np.degrees(
        np.arccos(np.clip((unit * gt).sum(1), -1, 1)))
    angles = normal_angles(torch.from_numpy(pred), torch.from_numpy(gt))
    np.testing.assert_allclose(angles.numpy(), expected, atol=1e-5)
    assert angles[0] == pytest.approx(90) and angles[1] == pytest.approx(
        0, abs=1e-5) and angles[2] == pytest.approx(180)
    sums = normal_error_sums(
        torch.from_numpy(pred).float(), torch.from_numpy(gt).float())
    assert sums['pixels'] == 50
    assert sums['abs_error'] == pytest.approx(np.abs(pred - gt).sum(),
                                              rel=1e-5)
    assert sums['angle'] == pytest.approx(expected.sum(), rel=1e-5)
    for t in (11.25, 22.5, 30):
        assert sums[f'within_{t:g}'] == (expected < t).sum()
    with pytest.raises(ValueError, match=r'\(N, 3\)'):
        normal_angles(torch.zeros(4, 2), torch.zeros(4, 2))


def test_surface_normal_metric_pools_valid_pixels_of_all_images():
    rng = np.random.default_rng(1)
    gts = rng.normal(size=(2, 3, 4, 5))
    gts /= np.linalg.norm(gts, axis=1, keepdims=True)
    preds = gts + 0.3 * rng.normal(size=gts.shape)
    valid = np.ones((2, 1, 4, 5), bool)
    valid[1, 0, :2] = False  # image 1: 10 of 20 pixels valid
    metric = SurfaceNormalMetric()
    samples = [
        _sample(
            torch.from_numpy(preds[i]).float(),
            torch.from_numpy(gts[i]).float(), torch.from_numpy(valid[i]))
        for i in range(2)
    ]
    metric.process({}, samples)
    out = metric.evaluate(2)
    assert tuple(out) == NORMAL_METRIC_KEYS
    p = np.concatenate([preds[i].reshape(3, -1)[:, valid[i].ravel()]
                        for i in range(2)], 1).T
    g = np.concatenate([gts[i].reshape(3, -1)[:, valid[i].ravel()]
                        for i in range(2)], 1).T
    assert len(p) == 30
    cos = (p * g).sum(1) / np.linalg.norm(p, axis=1)
    angles = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    assert out['l1'] == pytest.approx(np.abs(p - g).mean(), rel=1e-5)
    assert out['mean_angle'] == pytest.approx(angles.mean(), rel=1e-5)
    for t in (11.25, 22.5, 30):
        assert out[f'within_{t:g}'] == pytest.approx(
            100 * (angles < t).mean())
    # Taskonomy's [0, 1] code: same angles, half the L1
    coded = SurfaceNormalMetric(encoding='unit_interval')
    coded.process({}, [
        _sample(
            torch.from_numpy((preds[i] + 1) / 2).float(),
            torch.from_numpy((gts[i] + 1) / 2).float(),
            torch.from_numpy(valid[i])) for i in range(2)
    ])
    out_coded = coded.evaluate(2)
    assert out_coded['l1'] == pytest.approx(out['l1'] / 2, rel=1e-5)
    assert out_coded['mean_angle'] == pytest.approx(out['mean_angle'],
                                                    rel=1e-5)
    with pytest.raises(ValueError, match='3'):
        metric.process({}, [_sample(torch.zeros(1, 2, 2),
                                    torch.zeros(1, 2, 2))])
    with pytest.raises(ValueError, match='encoding'):
        SurfaceNormalMetric(encoding='rgb')
