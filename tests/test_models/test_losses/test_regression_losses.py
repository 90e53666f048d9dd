# Copyright (c) mmmultimae contributors. All rights reserved.
import pytest
import torch
from official_fixtures import load_transfer_fixture

from mmmultimae.models.losses.regression_losses import (BerHuLoss, PixelL1Loss,
                                                        PixelMSELoss,
                                                        masked_berhu_loss)
from mmmultimae.registry import MODELS

LOSSES = {'l1': PixelL1Loss, 'berhu': BerHuLoss, 'mse': PixelMSELoss}


@pytest.fixture(scope='module')
def section():
    return load_transfer_fixture()['losses']


def test_official_values(section):
    """Every recorded case x script x loss, masked and unmasked."""
    checked = 0
    for case, inputs in section['inputs']['cases'].items():
        for script, records in section['outputs']['cases'][case].items():
            for kind, record in records.items():
                loss = LOSSES[kind]()
                masked = loss(inputs['preds'], inputs['target'],
                              inputs['mask_valid'])
                no_mask = loss(inputs['preds'], inputs['target'])
                torch.testing.assert_close(
                    masked,
                    record['masked'],
                    rtol=1e-6,
                    atol=0,
                    msg=f'{case}/{script}/{kind} masked')
                torch.testing.assert_close(
                    no_mask,
                    record['no_mask'],
                    rtol=1e-6,
                    atol=0,
                    msg=f'{case}/{script}/{kind} no_mask')
                # official: NaN (0 / 0); ours: 0
                assert torch.isnan(record['all_invalid'])
                assert record['float_mask']['raised'] == 'TypeError'
                with pytest.raises(
                        TypeError, match='valid_mask must be a '
                        'bool tensor'):
                    loss(inputs['preds'], inputs['target'],
                         inputs['mask_valid'].float())
                checked += 1
    assert checked >= 10


@pytest.mark.parametrize('kind', sorted(LOSSES))
def test_no_valid_element_gives_zero_with_gradient(kind):
    pred = torch.randn(2, 3, 4, 5, requires_grad=True)
    target = torch.randn(2, 3, 4, 5)
    target[0, 0, 0, 0] = float('inf')  # an invalid pixel may hold anything
    loss = LOSSES[kind]()(pred, target,
                          torch.zeros(2, 1, 4, 5, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert pred.grad is not None and torch.equal(pred.grad,
                                                 torch.zeros_like(pred))


def test_invalid_pixels_get_no_gradient_and_nonfinite_targets_are_ignored():
    pred = torch.randn(1, 1, 3, 3, requires_grad=True)
    target = pred.detach() + 1.0
    valid = torch.ones(1, 1, 3, 3, dtype=torch.bool)
    valid[0, 0, 1, 1] = False
    target[0, 0, 1, 1] = float('nan')
    for loss_cls in LOSSES.values():
        pred.grad = None
        loss = loss_cls()(pred, target, valid)
        assert torch.isfinite(loss)
        loss.backward()
        assert pred.grad[0, 0, 1, 1] == 0
        assert (pred.grad[valid] != 0).all()


def test_hand_computed_and_channel_broadcast():
    # 2 channels, a (1, 1, 1, 3) mask broadcast to both channels
    pred = torch.tensor([[[[1., 2., 3.]], [[0., 0., 10.]]]])
    target = torch.tensor([[[[0., 2., 5.]], [[1., 0., -10.]]]])
    valid = torch.tensor([[[[True, True, False]]]])
    # valid diffs: 1, 0 (channel 0), -1, 0 (channel 1) -> 4 elements
    assert PixelL1Loss()(pred, target, valid).item() == pytest.approx(0.5)
    assert PixelMSELoss()(pred, target, valid).item() == pytest.approx(0.5)
    # berHu: c = 0.2 * 1 = 0.2; |d| = 1 >= c -> (1 + 0.04) / 0.4 = 2.6
    assert BerHuLoss()(pred, target,
                       valid).item() == pytest.approx(2 * 2.6 / 4)
    # a full (B, C, H, W) mask is taken as is
    full = valid.expand(1, 2, 1, 3).clone()
    full[0, 1, 0, 0] = False
    assert PixelL1Loss()(pred, target, full).item() == pytest.approx(1 / 3)


def test_berhu_threshold_has_no_gradient():
    pred = torch.tensor([[[[0., 0.]]]], requires_grad=True)
    target = torch.tensor([[[[1., 10.]]]])
    # c = 2: d=-1 -> |d|; d=-10 -> (100 + 4) / 4; grads: -1 and -10 / c
    loss = masked_berhu_loss(pred, target)
    assert loss.item() == pytest.approx((1 + 26) / 2)
    loss.backward()
    torch.testing.assert_close(pred.grad, torch.tensor([[[[-0.5, -2.5]]]]))


def test_loss_name_weight_and_registry():
    assert BerHuLoss().loss_name == 'loss_berhu'
    assert PixelL1Loss().loss_name == 'loss_l1'
    assert PixelMSELoss().loss_name == 'loss_mse'
    assert PixelL1Loss(loss_name='loss_depth_l1').loss_name == \
        'loss_depth_l1'
    pred, target = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)
    for kind, loss_cls in LOSSES.items():
        built = MODELS.build(dict(type=loss_cls.__name__, loss_weight=0.25))
        assert isinstance(built, loss_cls)
        torch.testing.assert_close(
            built(pred, target), 0.25 * loss_cls()(pred, target))


def test_bad_inputs():
    pred = torch.zeros(2, 3, 4, 4)
    with pytest.raises(ValueError, match='same shape'):
        PixelL1Loss()(pred, torch.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r'\(2, 1, 4, 4\) or \(2, 3, 4, 4\)'):
        PixelL1Loss()(pred, pred, torch.ones(2, 2, 4, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match='bool'):
        BerHuLoss()(pred, pred, torch.ones(2, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match='> 0'):
        BerHuLoss(threshold_ratio=0)
