# Copyright (c) mmmultimae contributors. All rights reserved.
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import PixelData
from mmseg.models.decode_heads.dpt_head import FeatureFusionBlock
from mmseg.models.losses import SiLogLoss
from mmseg.structures import SegDataSample

from mmmultimae.models.decode_heads import (DPTRegressionHead, DPTSemSegHead,
                                            FusionBlock, ResidualConvUnit)
from mmmultimae.registry import MODELS

D = 32  # width of the tiny backbone (conftest)


class RecordingLoss(nn.Module):
    """Test-only regression loss that records what it was called with."""

    calls = []

    def __init__(self, loss_name: str = 'loss_rec') -> None:
        super().__init__()
        self._loss_name = loss_name

    def forward(self, pred, target, valid_mask=None):
        RecordingLoss.calls.append((pred, target, valid_mask))
        return (pred - target).abs().mean()

    @property
    def loss_name(self) -> str:
        return self._loss_name


MODELS.register_module('RecordingLoss', module=RecordingLoss, force=True)


def regression_head(**kwargs) -> DPTRegressionHead:
    cfg = dict(
        in_channels=D,
        channels=8,
        post_process_channels=[4, 8, 8, 16],
        num_classes=1,
        loss_decode=dict(type='mmmultimae.RecordingLoss'))
    cfg.update(kwargs)
    return DPTRegressionHead(**cfg).eval()


def semseg_head(**kwargs) -> DPTSemSegHead:
    cfg = dict(
        in_channels=D,
        channels=8,
        post_process_channels=[4, 8, 8, 16],
        num_classes=5)
    cfg.update(kwargs)
    return DPTSemSegHead(**cfg).eval()


def depth_samples(target, valid=None, with_mask=None):
    samples = []
    for i in range(target.shape[0]):
        sample = SegDataSample()
        sample.gt_depth_map = PixelData(data=target[i])
        if valid is not None and (with_mask is None or with_mask[i]):
            sample.gt_valid_mask = PixelData(data=valid[i])
        samples.append(sample)
    return samples


@pytest.mark.parametrize('modalities, num_classes', [(('rgb', ), 1),
                                                     (('rgb', 'depth'), 3)])
def test_regression_forward_is_full_resolution(backbone_maps, modalities,
                                               num_classes):
    maps = backbone_maps(modalities, size=(64, 96))
    model = regression_head(
        in_channels=D * len(modalities), num_classes=num_classes)
    assert model(maps).shape == (2, num_classes, 64, 96)


def test_semseg_forward_is_full_resolution(backbone_maps):
    assert semseg_head()(backbone_maps()).shape == (2, 5, 64, 64)
    bn = semseg_head(norm_cfg=dict(type='BN'))
    assert isinstance(bn.project.bn, nn.BatchNorm2d)
    assert bn.project.conv.bias is None
    assert bn(backbone_maps()).shape == (2, 5, 64, 64)


def test_odd_token_grid(backbone_maps):
    """A 3 x 5 grid: the deepest path (2 x 3 -> 4 x 6) is cropped to the
    3 x 5 of the next level; the output keeps the input size."""
    maps = backbone_maps(size=(48, 80))
    assert regression_head()(maps).shape == (2, 1, 48, 80)


def test_in_index_selects_backbone_maps(backbone_maps):
    maps = backbone_maps(out_indices=(0, 1, 2, 3))
    model = regression_head(in_index=[0, 1, 2, 3])
    shifted = regression_head(in_index=[1, 2, 3, 4])
    shifted.load_state_dict(model.state_dict())
    padded = (maps[0], ) + maps
    assert torch.equal(model(maps), shifted(padded))


def official_rcu(x, conv1, conv2, bias=True):
    y = F.conv2d(F.relu(x), conv1.weight, conv1.bias if bias else None, 1, 1)
    y = F.conv2d(F.relu(y), conv2.weight, conv2.bias if bias else None, 1, 1)
    return x + y


def test_residual_conv_unit_has_biases_without_norm():
    unit = ResidualConvUnit(4, dict(type='ReLU'))
    assert unit.conv1.conv.bias is not None
    x = torch.randn(2, 4, 5, 6)
    x_copy = x.clone()
    ref = official_rcu(x, unit.conv1.conv, unit.conv2.conv)
    assert torch.allclose(unit(x), ref, atol=1e-6)
    assert torch.equal(x, x_copy)  # the activation is not in place
    with_bn = ResidualConvUnit(4, dict(type='ReLU'), dict(type='BN'))
    assert with_bn.conv1.conv.bias is None
    assert isinstance(with_bn.conv2.bn, nn.BatchNorm2d)


def test_fusion_block_is_mmseg_with_biased_units():
    """With zero unit biases, ours equals mmseg's FeatureFusionBlock."""
    ours = FusionBlock(4, dict(type='ReLU'))
    mmseg = FeatureFusionBlock(4, dict(type='ReLU'), None)
    for unit in (ours.res_conv_unit1, ours.res_conv_unit2):
        for conv in (unit.conv1.conv, unit.conv2.conv):
            nn.init.zeros_(conv.bias)
    missing, unexpected = mmseg.load_state_dict(
        ours.state_dict(), strict=False)
    assert missing == [] and all(k.endswith('conv.bias') for k in unexpected)
    x, skip = torch.randn(2, 4, 3, 5), torch.randn(2, 4, 3, 5)
    assert torch.allclose(ours(x, skip), mmseg(x, skip), atol=1e-6)
    deepest = FusionBlock(4, dict(type='ReLU'), with_skip=False)
    assert deepest.res_conv_unit1 is None
    assert deepest(x).shape == (2, 4, 6, 10)


def test_regression_loss_wiring_with_valid_mask(backbone_maps):
    model = regression_head(num_classes=3)
    pred = model(backbone_maps())  # (2, 3, 64, 64)
    target = torch.randn(2, 3, 128, 128)
    valid = torch.rand(2, 1, 128, 128) > 0.3
    RecordingLoss.calls.clear()
    losses = model.loss_by_feat(pred, depth_samples(target, valid))
    (got_pred, got_target, got_valid), = RecordingLoss.calls
    up = F.interpolate(
        pred, size=(128, 128), mode='bilinear', align_corners=False)
    assert torch.equal(got_pred, up)
    assert torch.equal(got_target, target)
    assert torch.equal(got_valid, valid)
    assert set(losses) == {'loss_rec'}
    assert torch.allclose(losses['loss_rec'], (up - target).abs().mean())


def test_regression_loss_valid_mask_absent_or_partial(backbone_maps):
    model = regression_head()
    pred = model(backbone_maps())
    target = torch.randn(2, 1, 64, 64)
    valid = torch.rand(2, 1, 64, 64) > 0.5
    RecordingLoss.calls.clear()
    model.loss_by_feat(pred, depth_samples(target))
    assert RecordingLoss.calls[-1][2] is None  # all valid
    assert RecordingLoss.calls[-1][0] is pred  # no resize needed
    model.loss_by_feat(pred, depth_samples(target, valid, [True, False]))
    got = RecordingLoss.calls[-1][2]
    assert torch.equal(got[0], valid[0]) and got[1].all()


def test_losses_sharing_a_name_are_summed(backbone_maps):
    model = regression_head(loss_decode=[
        dict(type='mmmultimae.RecordingLoss'),
        dict(type='mmmultimae.RecordingLoss'),
        dict(type='mmmultimae.RecordingLoss', loss_name='loss_other')
    ])
    pred = model(backbone_maps())
    target = torch.randn(2, 1, 64, 64)
    losses = model.loss_by_feat(pred, depth_samples(target))
    single = (pred - target).abs().mean()
    assert torch.allclose(losses['loss_rec'], 2 * single)
    assert torch.allclose(losses['loss_other'], single)


def test_silog_loss_gets_invalid_targets_zeroed(backbone_maps):
    model = regression_head(loss_decode=dict(type='SiLogLoss'))
    pred = model(backbone_maps()).detach().abs() + 0.5
    target = torch.rand(2, 1, 64, 64) + 0.5
    valid = torch.rand(2, 1, 64, 64) > 0.4
    losses = model.loss_by_feat(pred, depth_samples(target, valid))
    ref = SiLogLoss()(pred, target.masked_fill(~valid, 0.))
    assert torch.allclose(losses['loss_silog'], ref)
    # Invalid pixels do not matter, whatever their target value.
    other = target.masked_fill(~valid, 100.)
    again = model.loss_by_feat(pred, depth_samples(other, valid))
    assert torch.allclose(again['loss_silog'], ref)
    assert not torch.allclose(SiLogLoss()(pred, other), ref)


def test_regression_loss_bad_targets(backbone_maps):
    model = regression_head()
    pred = model(backbone_maps())
    with pytest.raises(KeyError, match='gt_depth_map'):
        model.loss_by_feat(pred, [SegDataSample(), SegDataSample()])
    with pytest.raises(ValueError, match='predicts 1 channels'):
        model.loss_by_feat(pred, depth_samples(torch.randn(2, 3, 8, 8)))
    target = torch.randn(2, 1, 8, 8)
    with pytest.raises(ValueError, match='bool'):
        model.loss_by_feat(pred, depth_samples(target, torch.ones(2, 1, 8, 8)))
    with pytest.raises(ValueError, match='float'):
        model.loss_by_feat(pred, depth_samples(target.long()))


def test_regression_predict_and_loss_entry_points(backbone_maps):
    model = regression_head()
    maps = backbone_maps()
    out = model.predict(maps, [dict(img_shape=(100, 90))], None)
    assert out.shape == (2, 1, 100, 90)
    losses = model.loss(maps, depth_samples(torch.randn(2, 1, 64, 64)), None)
    losses['loss_rec'].backward()
    assert model.reassemble_blocks.projects[0].conv.weight.grad is not None


def test_semseg_loss_via_mmseg(backbone_maps, seg_samples):
    model = semseg_head(
        loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True))
    logits = model(backbone_maps())
    labels = torch.randint(0, 5, (2, 64, 64))
    labels[:, -5:] = 255
    losses = model.loss_by_feat(logits, seg_samples(labels))
    ref = F.cross_entropy(logits, labels, ignore_index=255)
    assert torch.allclose(losses['loss_ce'], ref, rtol=1e-5)
    assert isinstance(model.dropout, nn.Dropout)  # element-wise, official


def test_bad_inputs(backbone_maps):
    maps = backbone_maps()
    with pytest.raises(ValueError, match=r'C = \[64, 64, 64, 64\]'):
        regression_head(in_channels=2 * D)(maps)
    with pytest.raises(IndexError, match='in_index'):
        regression_head(in_index=[1, 2, 3, 4])(maps)
    with pytest.raises(ValueError, match='4 maps'):
        regression_head(in_index=[0, 1, 2])
    with pytest.raises(ValueError, match='4 maps'):
        regression_head(post_process_channels=[4, 8])
    with pytest.raises(ValueError, match='one width'):
        regression_head(in_channels=[D, D, D, 2 * D])
    with pytest.raises(ValueError, match='multiple_select'):
        semseg_head(input_transform='resize_concat')
    with pytest.raises(TypeError, match='loss_decode'):
        DPTRegressionHead(in_channels=D, channels=8, num_classes=1)


@pytest.mark.parametrize('build', [regression_head, semseg_head])
def test_official_init(build):
    """Convs keep PyTorch's default init (mmcv ConvModule would use
    kaiming-normal); init_cfg applies on top."""
    model = build()
    for p in model.parameters():
        nn.init.constant_(p, 3.)
    model.init_weights()
    convs = [
        m for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    ]
    assert len(convs) > 10
    for conv in convs:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(conv.weight)
        assert conv.weight.abs().max() <= 1 / math.sqrt(fan_in)
    model = build(init_cfg=dict(type='Constant', val=0.25, layer='Conv2d'))
    model.init_weights()
    assert (model.conv_seg.weight == 0.25).all()


def test_init_inside_a_parent_module():
    """A segmentor's ``init_weights`` reaches the head's official init and
    its ``init_cfg``; mmcv's kaiming init of ConvModules is not run."""

    class Parent(BaseModule):

        def __init__(self):
            super().__init__()
            self.decode_head = regression_head(
                init_cfg=dict(type='Constant', val=0.25, layer='Linear'))
            self.other = semseg_head(
                init_cfg=dict(type='Constant', val=0.5, layer='Conv2d'))

    parent = Parent()
    for p in parent.parameters():
        nn.init.constant_(p, 3.)
    parent.init_weights()
    weight = parent.decode_head.convs[0].conv.weight
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(weight)
    assert 0 < weight.abs().max() <= 1 / math.sqrt(fan_in)
    assert (parent.other.conv_seg.weight == 0.5).all()
