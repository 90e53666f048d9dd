# Copyright (c) mmmultimae contributors. All rights reserved.
"""Class areas, mean IoU and the reduction of per-sample statistics."""
import math

import pytest
import torch
from mmseg.evaluation.metrics.iou_metric import IoUMetric

from mmmultimae.evaluation import (MaskedReconstructionMetric, class_areas,
                                   mean_iou, reduce_reconstruction_records)


def test_class_areas_match_mmseg_per_sample():
    gen = torch.Generator().manual_seed(0)
    pred = torch.randint(0, 5, (3, 6, 7), generator=gen)
    label = torch.randint(0, 5, (3, 6, 7), generator=gen)
    label[0, :2] = 255  # ignored
    areas = class_areas(pred, label, 5, ignore_index=255)
    assert areas.shape == (3, 4, 5) and areas.dtype == torch.float64
    for i in range(3):
        expected = IoUMetric.intersect_and_union(pred[i], label[i], 5, 255)
        for row, value in zip(areas[i], expected):
            assert row.tolist() == value.double().tolist()


def test_mean_iou_leaves_out_absent_classes():
    pred = torch.tensor([[0, 0, 1, 1]])
    label = torch.tensor([[0, 1, 1, 1]])
    areas = class_areas(pred, label, 4)[0]
    # class 0: 1 / 2, class 1: 2 / 3; classes 2 and 3 never occur
    assert float(mean_iou(areas)) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert math.isnan(float(mean_iou(torch.zeros(4, 3))))


def record(**stats):
    return dict(stats={k: torch.as_tensor(v, dtype=torch.float64)
                       for k, v in stats.items()})


def test_reduce_sums_over_samples():
    areas_a = class_areas(torch.tensor([[0, 1]]), torch.tensor([[0, 0]]), 2)
    areas_b = class_areas(torch.tensor([[1, 1]]), torch.tensor([[1, 0]]), 2)
    records = [
        record(loss=[0.5, 1.], acc=[3., 4.], miou=areas_a[0]),
        record(loss=[0., 0.], acc=[1., 4.], miou=areas_b[0]),
        record(loss=[2.5, 1.], acc=[0., 0.], miou=torch.zeros(4, 2)),
    ]
    out = reduce_reconstruction_records(records)
    assert list(out) == ['loss', 'acc', 'miou']
    # loss: the second sample does not count (weight 0)
    assert out['loss'] == pytest.approx(1.5)
    assert out['acc'] == pytest.approx(0.5)
    total = areas_a[0] + areas_b[0]
    assert out['miou'] == pytest.approx(float(mean_iou(total)))

    assert math.isnan(reduce_reconstruction_records([record(x=[0., 0.])])['x'])
    with pytest.raises(ValueError, match='different statistics'):
        reduce_reconstruction_records([record(a=[1., 1.]), record(b=[1., 1.])])
    with pytest.raises(ValueError, match='empty'):
        reduce_reconstruction_records([])


def test_metric_prefix_and_bad_records():
    metric = MaskedReconstructionMetric()
    assert metric.prefix == 'recon'
    metric.process({}, [record(loss_rgb=[1., 2.])])
    assert metric.compute_metrics(metric.results) == dict(loss_rgb=0.5)
    with pytest.raises(TypeError, match='MaskedReconstructionValLoop'):
        metric.process({}, [dict(pred_rgb=torch.zeros(3))])
