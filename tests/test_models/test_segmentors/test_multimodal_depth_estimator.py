# Copyright (c) mmmultimae contributors. All rights reserved.
"""The multi-modal depth estimator: losses, clamping, test modes."""
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmmultimae.evaluation.metrics import PerTestModeMetric
from mmmultimae.models.segmentors import clamp_depth
from mmmultimae.registry import MODELS


def estimator(test_cfg=None, min_depth=0.5, max_depth=4.0, loss=None):
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='MultiModalDepthEstimator',
            min_depth=min_depth,
            max_depth=max_depth,
            data_preprocessor=dict(
                type='MultiModalDataPreprocessor',
                size_divisor=8,
                rgb=dict(
                    mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375])),
            backbone=dict(
                type='MultiViT',
                adapters=dict(
                    rgb=dict(
                        type='PatchInputAdapter',
                        in_channels=3,
                        patch_size=8,
                        image_size=32)),
                embed_dims=16,
                num_layers=4,
                num_heads=2,
                out_indices=[0, 1, 2, 3],
                out_modalities=['rgb']),
            decode_head=dict(
                type='DPTRegressionHead',
                in_channels=16,
                channels=8,
                post_process_channels=(4, 8, 16, 16),
                num_classes=1,
                loss_decode=loss or dict(type='BerHuLoss')),
            test_cfg=test_cfg))
    model.init_weights()
    return model.eval()


def batch(height=32, width=32, size=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(size):
        sample = SegDataSample(
            metainfo=dict(
                ori_shape=(height, width), img_shape=(height, width)))
        sample.gt_depth_map = PixelData(
            data=torch.rand(1, height, width, generator=g) * 3 + 1)
        valid = torch.rand(1, height, width, generator=g) > 0.2
        sample.gt_valid_mask = PixelData(data=valid)
        samples.append(sample)
    return dict(
        inputs=dict(rgb=[
            torch.randint(
                0, 256, (3, height, width), dtype=torch.uint8, generator=g)
            for _ in range(size)
        ]),
        data_samples=samples)


def test_clamp_depth():
    x = torch.tensor([-1., 0.25, 3., 12.])
    assert clamp_depth(x, 0.5, 10.).tolist() == [0.5, 0.5, 3., 10.]
    assert clamp_depth(x, None, None) is x
    assert clamp_depth(x, None, 1.).tolist() == [-1., 0.25, 1., 1.]
    with pytest.raises(ValueError, match='below max_depth'):
        estimator(min_depth=2., max_depth=1.)


@pytest.mark.parametrize('loss', [
    dict(type='BerHuLoss'),
    dict(type='PixelL1Loss'),
    dict(type='SiLogLoss', loss_weight=1.0),
])
def test_losses_train_the_backbone(loss):
    model = estimator(loss=loss).train()
    data = model.data_preprocessor(batch(), True)
    losses = model(**data, mode='loss')
    (name, value), = losses.items()
    assert name.startswith('decode.') and torch.isfinite(value)
    value.backward()
    assert model.backbone.adapters['rgb'].proj.weight.grad.abs().sum() > 0


def test_predictions_are_clamped_in_every_mode_and_slide_slides():
    model = estimator(
        test_cfg=dict(
            mode=['whole', 'slide', 'resize_pad'],
            crop_size=(16, 16),
            stride=(8, 8),
            size=32),
        min_depth=0.5,
        max_depth=0.6)
    data = model.data_preprocessor(batch(24, 40, size=1), False)
    with torch.no_grad():
        out = model(**data, mode='predict')[0]
    assert out.pred_depth_map.shape == (24, 40)
    results = out.test_mode_results
    for mode in ('whole', 'slide', 'resize_pad'):
        pred = results.get(mode).pred_depth_map.data
        assert pred.shape == (1, 24, 40)
        assert pred.min() >= 0.5 and pred.max() <= 0.6
        assert torch.equal(
            results.get(mode).gt_valid_mask.data, out.gt_valid_mask.data)
    # slide really cuts windows (mmseg's depth estimator ran 'whole')
    free = estimator(
        test_cfg=dict(
            mode=['whole', 'slide'], crop_size=(16, 16), stride=(8, 8)),
        min_depth=None,
        max_depth=None)
    with torch.no_grad():
        out = free(**data, mode='predict')[0].test_mode_results
    assert not torch.allclose(out.whole.pred_depth_map.data,
                              out.slide.pred_depth_map.data)


def test_official_protocol_resizes_every_target_and_the_metric_reads_it():
    model = estimator(
        test_cfg=dict(mode=['resize_pad'], size=16, protocol='official'))
    data = model.data_preprocessor(batch(32, 32, size=1), False)
    with torch.no_grad():
        out = model(**data, mode='predict')[0]
    result = out.test_mode_results.resize_pad_official
    assert result.pred_depth_map.shape == (16, 16)
    assert result.gt_depth_map.shape == (16, 16)
    assert torch.equal(result.gt_valid_mask.data,
                       out.gt_valid_mask.data[:, ::2, ::2])
    metric = PerTestModeMetric(dict(type='MaskedDepthMetric'))
    metric.dataset_meta = {}
    metric.process({}, [out.to_dict()])
    values = metric.evaluate(1)
    assert 0 <= values['delta1/resize_pad_official'] <= 1
