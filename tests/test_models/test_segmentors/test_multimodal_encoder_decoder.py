# Copyright (c) mmmultimae contributors. All rights reserved.
"""The multi-modal segmentor: dict inputs, test modes, protocols."""
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmmultimae.evaluation.metrics import PerTestModeMetric
from mmmultimae.models.segmentors import (crop_inputs, parse_test_cfg,
                                          resize_pad_inputs, slide_windows)
from mmmultimae.registry import MODELS

NUM_CLASSES = 5


def segmentor(modalities=('rgb', 'depth'), test_cfg=None, **kwargs):
    adapters = dict(
        rgb=dict(
            type='PatchInputAdapter',
            in_channels=3,
            patch_size=8,
            image_size=32),
        depth=dict(
            type='PatchInputAdapter',
            in_channels=1,
            patch_size=8,
            image_size=32),
        semseg=dict(
            type='SemSegInputAdapter',
            num_classes=NUM_CLASSES,
            patch_size=8,
            class_embed_dims=4,
            image_size=32))
    preprocessor = dict(
        type='MultiModalDataPreprocessor',
        size_divisor=8,
        rgb=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
        depth=dict(standardize=True),
        semseg=dict(num_classes=NUM_CLASSES))
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='MultiModalEncoderDecoder',
            data_preprocessor=preprocessor,
            backbone=dict(
                type='MultiViT',
                adapters={m: adapters[m]
                          for m in modalities},
                embed_dims=16,
                num_layers=2,
                num_heads=2,
                out_indices=[0, 1],
                out_modalities=['rgb']),
            decode_head=dict(
                type='ConvNeXtHead',
                in_channels=16,
                channels=8,
                preds_per_patch=16,
                num_blocks=1,
                in_index=-1,
                num_classes=NUM_CLASSES,
                loss_decode=dict(type='CrossEntropyLoss',
                                 avg_non_ignore=True)),
            test_cfg=test_cfg,
            **kwargs))
    model.init_weights()
    return model.eval()


def batch(height=32, width=48, size=1, valid=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(size):
        sample = SegDataSample(
            metainfo=dict(
                ori_shape=(height, width), img_shape=(height, width)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(
                0, NUM_CLASSES, (1, height, width), generator=g))
        if valid is not None:
            sample.gt_valid_mask = PixelData(data=valid[None])
        samples.append(sample)
    return dict(
        inputs=dict(
            rgb=[
                torch.randint(
                    0, 256, (3, height, width), dtype=torch.uint8, generator=g)
                for _ in range(size)
            ],
            depth=[
                torch.rand(1, height, width, generator=g) * 5 + 1
                for _ in range(size)
            ]),
        data_samples=samples)


def test_slide_windows_cover_the_image():
    boxes = slide_windows(40, 70, (32, 32), (16, 16))
    count = torch.zeros(40, 70)
    for y1, y2, x1, x2 in boxes:
        assert (y2 - y1, x2 - x1) == (32, 32)
        count[y1:y2, x1:x2] += 1
    assert (count > 0).all()
    assert slide_windows(20, 24, (32, 32), (16, 16)) == [(0, 20, 0, 24)]


def test_crop_and_resize_pad_follow_each_modality_stride():
    inputs = dict(
        rgb=torch.arange(2 * 3 * 16 * 24.).reshape(2, 3, 16, 24),
        semseg=torch.arange(2 * 4 * 6).reshape(2, 4, 6))
    strides = dict(rgb=1, semseg=4)
    crop = crop_inputs(inputs, (4, 12, 8, 24), strides)
    assert crop['rgb'].shape == (2, 3, 8, 16)
    assert torch.equal(crop['semseg'], inputs['semseg'][:, 1:3, 2:6])
    with pytest.raises(ValueError, match='stride_level 4'):
        crop_inputs(inputs, (2, 10, 0, 8), strides)
    out, (h, w) = resize_pad_inputs(inputs, strides, (16, 24), 48)
    assert (h, w) == (32, 48)
    assert out['rgb'].shape == (2, 3, 48, 48)
    assert out['semseg'].shape == (2, 12, 12)
    assert out['semseg'].dtype == inputs['semseg'].dtype
    assert (out['rgb'][:, :, 32:] == 0).all()  # bottom padding
    # nearest for labels: every value an input id
    assert set(out['semseg'][:, :8].unique().tolist()) <= set(
        inputs['semseg'].unique().tolist())


def test_test_cfg_validation():
    assert parse_test_cfg(None) == [('whole', 'whole')]
    assert parse_test_cfg(
        dict(
            mode=['resize_pad', 'slide'],
            size=32,
            protocol='official',
            crop_size=(32, 32),
            stride=(16, 16))) == [('resize_pad', 'resize_pad_official'),
                                  ('slide', 'slide')]
    with pytest.raises(ValueError, match='not one of'):
        segmentor(test_cfg=dict(mode='sliding'))
    with pytest.raises(ValueError, match='crop_size and stride'):
        segmentor(test_cfg=dict(mode='slide'))
    with pytest.raises(ValueError, match='needs size'):
        parse_test_cfg(dict(mode='resize_pad'))
    with pytest.raises(ValueError, match='protocol'):
        parse_test_cfg(dict(mode='resize_pad', size=32, protocol='paper'))


def test_loss_and_backward_on_dict_inputs():
    model = segmentor().train()
    data = model.data_preprocessor(batch(32, 32, size=2), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg'}
    losses['decode.loss_ce'].backward()
    assert model.backbone.adapters['depth'].proj.weight.grad.abs().sum() > 0


def test_slide_and_resize_pad_equal_whole_when_they_see_the_whole_image():
    # a square image of the resize_pad size: nothing resized nor padded
    model = segmentor(
        test_cfg=dict(
            mode=['whole', 'slide', 'resize_pad'],
            crop_size=(32, 32),
            stride=(16, 16),
            size=32))
    data = model.data_preprocessor(batch(32, 32), False)
    with torch.no_grad():
        out = model(**data, mode='predict')[0]
    results = out.test_mode_results
    assert set(results.keys()) == {'whole', 'slide', 'resize_pad'}
    whole = results.whole.pred_sem_seg.data
    assert torch.equal(results.slide.pred_sem_seg.data, whole)
    assert torch.equal(results.resize_pad.pred_sem_seg.data, whole)
    assert torch.equal(out.pred_sem_seg.data, whole)  # the first mode
    assert whole.shape == (1, 32, 32)


def test_windows_and_padding_differ_but_keep_the_image_size():
    model = segmentor(
        test_cfg=dict(
            mode=['slide', 'resize_pad'],
            crop_size=(16, 16),
            stride=(8, 8),
            size=24))
    # 30 x 45 is padded to 32 x 48 by the preprocessor (size_divisor 8)
    data = model.data_preprocessor(batch(30, 45), False)
    assert data['inputs']['rgb'].shape[-2:] == (32, 48)
    assert data['data_samples'][0].img_padding_size == [0, 3, 0, 2]
    with torch.no_grad():
        out = model(**data, mode='predict')[0]
    for label in ('slide', 'resize_pad'):
        pred = out.test_mode_results.get(label).pred_sem_seg.data
        assert pred.shape == (1, 30, 45), label


def test_official_protocol_scores_the_resized_ground_truth():
    model = segmentor(
        test_cfg=dict(mode='resize_pad', size=24, protocol='official'))
    data = model.data_preprocessor(batch(32, 48), False)
    gt = data['data_samples'][0].gt_sem_seg.data
    with torch.no_grad():
        out = model(**data, mode='predict')[0]
    result = out.test_mode_results.resize_pad_official
    assert result.pred_sem_seg.data.shape == (1, 16, 24)
    # nearest resize of the labels by 1/2: every other pixel
    assert torch.equal(result.gt_sem_seg.data, gt[:, ::2, ::2])


def test_per_test_mode_metric_reports_each_mode():
    model = segmentor(
        test_cfg=dict(
            mode=['resize_pad', 'slide'],
            crop_size=(16, 16),
            stride=(16, 16),
            size=32))
    metric = PerTestModeMetric(
        metric=dict(type='IoUMetric', iou_metrics=['mIoU']))
    metric.dataset_meta = dict(classes=[str(i) for i in range(NUM_CLASSES)])
    for seed in range(2):
        data = model.data_preprocessor(batch(32, 32, seed=seed), False)
        with torch.no_grad():
            out = model(**data, mode='predict')
        metric.process({}, [s.to_dict() for s in out])
    results = metric.evaluate(2)
    assert set(results) == {
        'aAcc/resize_pad', 'mIoU/resize_pad', 'mAcc/resize_pad', 'aAcc/slide',
        'mIoU/slide', 'mAcc/slide'
    }
    only = PerTestModeMetric(metric=dict(type='IoUMetric'), modes=['whole'])
    only.dataset_meta = metric.dataset_meta
    with pytest.raises(KeyError, match="test mode 'whole' was not run"):
        only.process({}, [s.to_dict() for s in out])


def test_depth_standardisation_leaves_out_invalid_pixels():
    valid = torch.ones(32, 32, dtype=torch.bool)
    valid[:, 16:] = False
    model = segmentor()
    plain = model.data_preprocessor(batch(32, 32), False)
    masked = model.data_preprocessor(batch(32, 32, valid=valid), False)
    depth = masked['inputs']['depth'][0, 0]
    assert (depth[:, 16:] == 0).all()
    # the valid half is standardised with its own statistics
    kept = depth[:, :16].flatten().sort().values
    n = kept.numel()
    trimmed = kept[int(0.1 * n):int(0.9 * n)]
    assert abs(float(trimmed.mean())) < 1e-4
    assert not torch.equal(plain['inputs']['depth'][0, 0, :, :16],
                           depth[:, :16])
    # mask_valid files are optional: a sample without a mask in a batch
    # with masks is all valid, as if the batch had no masks
    mixed = batch(32, 32, size=2, valid=valid)
    del mixed['data_samples'][1].gt_valid_mask
    mixed = model.data_preprocessor(mixed, False)['inputs']['depth']
    unmasked = model.data_preprocessor(batch(32, 32, size=2), False)
    masked = model.data_preprocessor(batch(32, 32, size=2, valid=valid), False)
    assert torch.equal(mixed[1], unmasked['inputs']['depth'][1])
    assert torch.equal(mixed[0], masked['inputs']['depth'][0])


def test_model_reads_only_its_backbone_modalities():
    # datasets pack rgb and depth for every model; an rgb-only model
    # must read rgb and give the same result as on an rgb-only batch
    model = segmentor(modalities=('rgb', ))
    data = model.data_preprocessor(batch(32, 32), False)
    with torch.no_grad():
        both = model(data['inputs'], mode='tensor')
        rgb_only = model(dict(rgb=data['inputs']['rgb']), mode='tensor')
    assert torch.equal(both, rgb_only)
    rgbd = segmentor(modalities=('rgb', 'depth'))
    with pytest.raises(KeyError, match=r"the batch has no \['depth'\]"):
        rgbd(dict(rgb=data['inputs']['rgb']), mode='tensor')
    with pytest.raises(TypeError, match='dict of modality tensors'):
        rgbd(data['inputs']['rgb'], mode='tensor')
