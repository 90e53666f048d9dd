# Copyright (c) mmmultimae contributors. All rights reserved.
"""mmseg's ``IoUMetric`` reproduces official MultiMAE's mIoU protocol.

Official ``utils/semseg_metrics.mean_iou`` pools per-class histograms over
the whole dataset, like ``IoUMetric`` (``intersect_and_union`` per image,
areas summed, ``total_area_to_metrics``), and both report
``np.round(np.nanmean(x) * 100, 2)``. So we use ``IoUMetric`` as is.

Void labels: official ``np.histogram``'s last bin is closed, so a void label
``K`` handed to ``mean_iou`` directly counts as class ``K - 1``
(``mean_iou_void_unreplaced``); ``torch.histc`` in ``IoUMetric`` drops it
instead (like any label outside ``[0, K)`` that is not ignored, e.g. 254:
its prediction still enters the prediction histogram). Official
``evaluate()`` replaces void by 255 before computing metrics, and so must
we (``AdaptSegLabels(use_void_label=False)`` for evaluation, or map ``K``
to 255); then the numbers agree.
"""
import numpy as np
import pytest
import torch
from mmseg.evaluation.metrics.iou_metric import IoUMetric
from mmseg.models.losses.cross_entropy_loss import CrossEntropyLoss
from official_fixtures import load_transfer_fixture

from mmmultimae.models.utils.seg_prediction import seg_logits_to_labels

IGNORE = 255


@pytest.fixture(scope='module')
def section():
    return load_transfer_fixture()['semseg_metrics']


def _mmseg_class_metrics(preds, labels, num_classes):
    areas = [
        IoUMetric.intersect_and_union(p, g, num_classes, IGNORE)
        for p, g in zip(preds, labels)
    ]
    totals = [sum(a) for a in zip(*areas)]
    return IoUMetric.total_area_to_metrics(*totals, metrics=['mIoU'])


def _mmseg_summary(preds, labels, num_classes):
    metric = IoUMetric(ignore_index=IGNORE)
    metric.dataset_meta = dict(classes=[f'c{i}' for i in range(num_classes)])
    samples = [
        dict(pred_sem_seg=dict(data=p[None]), gt_sem_seg=dict(data=g[None]))
        for p, g in zip(preds, labels)
    ]
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def _void_to_ignore(labels, num_classes):
    return [torch.where(g == num_classes, IGNORE, g) for g in labels]


def _assert_class_metrics(ours, record, what):
    np.testing.assert_allclose(
        ours['aAcc'], record['all_acc'], rtol=1e-6, err_msg=what)
    for mine, key in (('Acc', 'acc'), ('IoU', 'iou')):
        expected = record[key].numpy()
        np.testing.assert_array_equal(
            np.isnan(ours[mine]), np.isnan(expected), err_msg=what)
        np.testing.assert_allclose(
            ours[mine], expected, rtol=1e-6, equal_nan=True, err_msg=what)


def test_class_metrics_equal_official_mean_iou(section):
    inputs, outputs = section['inputs'], section['outputs']
    k = inputs['num_classes']
    for name, labels in (('mean_iou_direct', 'labels'),
                         ('mean_iou_out_of_range_label',
                          'labels_out_of_range')):
        ours = _mmseg_class_metrics(inputs['preds'], inputs[labels], k)
        _assert_class_metrics(ours, outputs[name], name)
    direct = outputs['mean_iou_direct']
    # the NaN pattern the fixture documents: class 3 predicted but never
    # labelled (acc NaN, IoU 0), class 4 absent everywhere (both NaN)
    assert torch.isnan(direct['acc'][3]) and direct['iou'][3] == 0
    assert torch.isnan(direct['acc'][4]) and torch.isnan(direct['iou'][4])


def test_void_labels_differ_unless_replaced(section):
    inputs, outputs = section['inputs'], section['outputs']
    k = inputs['num_classes']
    raw = _mmseg_class_metrics(inputs['preds'], inputs['labels_with_void'], k)
    record = outputs['mean_iou_void_unreplaced']
    # official counts void as class K-1: its acc is 0, not NaN; mmseg drops
    # the void pixels from the label histogram
    assert record['acc'][k - 1] == 0 and np.isnan(raw['Acc'][k - 1])
    assert not np.isclose(raw['aAcc'], record['all_acc'])
    # with void -> 255 (what official evaluate() does) both agree
    labels = _void_to_ignore(inputs['labels_with_void'], k)
    for got, expected in zip(
            labels, outputs['compute_metrics_distributed']['gts_after_call']):
        assert torch.equal(got, expected)


def test_summary_equals_official_percentages(section):
    inputs, outputs = section['inputs'], section['outputs']
    k = inputs['num_classes']
    for name, labels in (('compute_metrics_distributed', 'labels_with_void'),
                         ('compute_metrics_distributed_no_void', 'labels')):
        gts = _void_to_ignore(inputs[labels], k)
        ours = _mmseg_summary(inputs['preds'], gts, k)
        scores = outputs[name]['scores']
        assert ours['aAcc'] == scores['pixel_accuracy'].item(), name
        assert ours['mAcc'] == scores['mean_accuracy'].item(), name
        assert ours['mIoU'] == scores['mean_iou'].item(), name


def test_official_evaluate_record(section):
    """Predictions leave the void channel out; metrics use void -> 255;
    the loss is mmseg's CE with ``avg_non_ignore=True`` (torch's
    ``ignore_index`` mean), a per-batch mean averaged over batches."""
    inputs, record = section['inputs'], section['outputs']['evaluate']
    k = inputs['evaluate_num_classes']
    assert inputs['evaluate_head_channels'] == k + 1
    preds, gts, losses = [], [], []
    criterion = CrossEntropyLoss(avg_non_ignore=True)
    for batch in inputs['evaluate_batches']:
        logits, labels = batch['logits'], batch['labels']
        losses.append(criterion(logits, labels, ignore_index=IGNORE))
        preds.extend(seg_logits_to_labels(logits, k))
        gts.extend(_void_to_ignore(labels, k))
    assert len(preds) == len(record['seg_preds'])
    for ours, expected in zip(preds, record['seg_preds']):
        assert torch.equal(ours, expected)
    for ours, expected in zip(gts, record['seg_gts_after_void_to_ignore']):
        assert torch.equal(ours, expected)
    returned = record['returned']
    loss = torch.stack(losses).mean().item()
    assert loss == pytest.approx(returned['loss'], rel=1e-6)
    # the default avg_non_ignore=False divides by all pixels: different
    with pytest.warns(UserWarning, match='avg_non_ignore'):
        default = CrossEntropyLoss()(
            batch['logits'], batch['labels'], ignore_index=IGNORE)
    assert not torch.isclose(default, losses[-1])
    summary = _mmseg_summary(preds, gts, k)
    assert summary['aAcc'] == returned['pixel_accuracy']
    assert summary['mAcc'] == returned['mean_accuracy']
    assert summary['mIoU'] == returned['mean_iou']


def test_seg_logits_to_labels():
    logits = torch.zeros(1, 4, 1, 2)
    logits[0, 3, 0, 0] = 5.  # void wins the full argmax...
    logits[0, 1, 0, 0] = 1.
    logits[0, 2, 0, 1] = 1.
    assert seg_logits_to_labels(logits, 3).tolist() == [[[1, 2]]]
    assert seg_logits_to_labels(logits, 4).tolist() == [[[3, 2]]]
    with pytest.raises(ValueError, match='num_classes=2 or num_classes'):
        seg_logits_to_labels(logits, 2)
    with pytest.raises(ValueError, match=r'\(B, C, H, W\)'):
        seg_logits_to_labels(logits[0], 3)
