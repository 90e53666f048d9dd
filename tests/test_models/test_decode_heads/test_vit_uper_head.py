# Copyright (c) mmmultimae contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F
from mmseg.models.decode_heads import FCNHead, UPerHead
from mmseg.models.necks import Feature2Pyramid

from mmmultimae.models.decode_heads import ViTUPerHead
from mmmultimae.registry import MODELS

D = 32  # width of the tiny backbone (conftest)


def uper_head(**kwargs) -> ViTUPerHead:
    cfg = dict(
        type='ViTUPerHead',
        in_channels=D,
        channels=16,
        pool_scales=(1, 2, 3),
        num_classes=5,
        loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def randomize_bn(model: torch.nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 2)
            m.bias.data.uniform_(-1, 1)


@pytest.mark.parametrize('modalities', [('rgb', ), ('rgb', 'depth')])
def test_forward_shape(backbone_maps, modalities):
    maps = backbone_maps(modalities)
    model = uper_head(in_channels=D * len(modalities)).eval()
    assert model(maps).shape == (2, 5, 16, 16)  # stride 4
    assert isinstance(model.neck, Feature2Pyramid)
    assert isinstance(model.bottleneck.bn, torch.nn.BatchNorm2d)


def test_equals_feature2pyramid_then_uperhead(backbone_maps):
    maps = backbone_maps()
    model = uper_head().eval()
    randomize_bn(model)
    neck = Feature2Pyramid(D, [4, 2, 1, 0.5], norm_cfg=dict(type='BN'))
    uper = UPerHead(
        in_channels=[D] * 4,
        in_index=[0, 1, 2, 3],
        channels=16,
        pool_scales=(1, 2, 3),
        num_classes=5,
        norm_cfg=dict(type='BN', requires_grad=True))
    state = model.state_dict()
    neck.load_state_dict({
        k[5:]: v
        for k, v in state.items() if k.startswith('neck.')
    })
    uper.load_state_dict({
        k: v
        for k, v in state.items() if not k.startswith('neck.')
    })
    neck.eval(), uper.eval()
    with torch.no_grad():
        assert torch.equal(model(maps), uper(neck(maps)))


def test_in_index_picks_backbone_maps(backbone_maps):
    maps = backbone_maps()
    model = uper_head().eval()
    shifted = uper_head(in_index=[1, 2, 3, 4]).eval()
    shifted.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(model(maps), shifted((maps[0], ) + maps))


def test_loss_and_auxiliary_fcn_head(backbone_maps, seg_samples):
    maps = backbone_maps()
    labels = torch.randint(0, 5, (2, 64, 64))
    labels[0, :8] = 255
    model = uper_head().train()
    torch.manual_seed(1)
    losses = model.loss(maps, seg_samples(labels), None)
    torch.manual_seed(1)  # the same dropout mask
    logits = model(maps)
    ref = F.cross_entropy(
        F.interpolate(logits, size=(64, 64), mode='bilinear'),
        labels,
        ignore_index=255)
    assert torch.allclose(losses['loss_ce'], ref, rtol=1e-5)
    losses['loss_ce'].backward()
    assert model.neck.upsample_4x[0].weight.grad.abs().sum() > 0
    # The auxiliary head reads the backbone map Feature2Pyramid keeps (x1).
    aux = FCNHead(
        in_channels=D,
        in_index=2,
        channels=8,
        num_convs=1,
        num_classes=5,
        norm_cfg=dict(type='BN'),
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4))
    assert aux(maps).shape == (2, 5, 4, 4)
    assert torch.isfinite(aux.loss(maps, seg_samples(labels), None)['loss_ce'])


def test_bad_inputs(backbone_maps):
    maps = backbone_maps()
    with pytest.raises(ValueError, match='rescales'):
        uper_head(rescales=(4, 2, 1, 1))
    with pytest.raises(ValueError, match='4 backbone maps'):
        uper_head(in_index=[0, 1, 2])
    with pytest.raises(TypeError, match='one int'):
        uper_head(in_channels=[D] * 4)
    with pytest.raises(ValueError, match=r'C = \[64, 64, 64, 64\]'):
        uper_head(in_channels=2 * D).eval()(maps)
    with pytest.raises(IndexError, match='in_index'):
        uper_head(in_index=[-5, 0, 1, 2]).eval()(maps)
