# Copyright (c) mmmultimae contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F

from mmmultimae.models.losses import (MaskedCrossEntropyLoss, MaskedL1Loss,
                                      MaskedMSELoss, TaskWeighting,
                                      masked_sample_mean)
from mmmultimae.models.utils.patchify import patchify
from mmmultimae.registry import MODELS

# Two samples, three tokens, two values per token.
PRED = torch.tensor([[[1., 3.], [0., 0.], [2., 2.]],
                     [[1., 1.], [4., 0.], [0., 2.]]])
TARGET = torch.tensor([[[0., 1.], [0., 2.], [2., 0.]],
                       [[1., 1.], [0., 0.], [3., 2.]]])
MASK = torch.tensor([[True, False, True], [False, True, True]])


def test_mse_hand_computed():
    # sample 0: tokens 0 (1+4)/2=2.5 and 2 (0+4)/2=2 -> 2.25
    # sample 1: tokens 1 (16+0)/2=8 and 2 (9+0)/2=4.5 -> 6.25
    loss = MaskedMSELoss()(PRED, TARGET, MASK)
    assert loss.dtype == torch.float32
    assert torch.isclose(loss, torch.tensor((2.25 + 6.25) / 2))
    # per-token means over everything when unmasked
    all_tokens = MaskedMSELoss(loss_on_unmasked=True)(PRED, TARGET, MASK)
    assert torch.isclose(all_tokens, F.mse_loss(PRED, TARGET))
    assert torch.isclose(MaskedMSELoss()(PRED, TARGET), all_tokens)
    weighted = MaskedMSELoss(loss_weight=0.5)(PRED, TARGET, MASK)
    assert torch.isclose(weighted, loss * 0.5)


def test_l1_hand_computed():
    # sample 0: (1+2)/2=1.5 and (0+2)/2=1 -> 1.25
    # sample 1: (4+0)/2=2 and (3+0)/2=1.5 -> 1.75
    loss = MaskedL1Loss()(PRED, TARGET, MASK)
    assert torch.isclose(loss, torch.tensor(1.5))


def test_samples_without_masked_tokens_are_left_out():
    mask = MASK.clone()
    mask[1] = False  # nothing masked in sample 1: official nanmean drops it
    loss = MaskedMSELoss()(PRED, TARGET, mask)
    assert torch.isclose(loss, torch.tensor(2.25))


def test_no_masked_token_gives_float_zero_and_finite_grads():
    pred = PRED.clone().requires_grad_()
    loss = MaskedL1Loss()(pred, TARGET, torch.zeros(2, 3, dtype=torch.bool))
    assert loss.dtype == torch.float32 and loss.item() == 0.
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))
    ce = MaskedCrossEntropyLoss()(torch.randn(2, 3, 8),
                                  torch.zeros(2, 3, 4, dtype=torch.long),
                                  torch.zeros(2, 3, dtype=torch.bool))
    assert ce.dtype == torch.float32 and ce.item() == 0.


def test_masked_sample_mean():
    loss = torch.tensor([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]])
    weight = torch.tensor([[1, 0, 1], [0, 0, 0], [0, 1, 0]])
    assert torch.isclose(
        masked_sample_mean(loss, weight), torch.tensor((2. + 8.) / 2))


def test_pixel_loss_shape_errors():
    with pytest.raises(ValueError, match='same shape'):
        MaskedMSELoss()(PRED, TARGET[:, :2])
    with pytest.raises(ValueError, match='mask must have shape'):
        MaskedL1Loss()(PRED, TARGET, MASK[:, :2])


def test_cross_entropy_hand_computed():
    # Two classes, 2 pixels per token (ph * pw = 2), two tokens.
    # Logits of token n in (c p) order: [c0p0, c0p1, c1p0, c1p1].
    pred = torch.zeros(1, 2, 4)
    pred[0, 0] = torch.tensor([0., 0., 0., 0.])  # CE = log 2 each pixel
    pred[0, 1] = torch.tensor([2., 0., 0., 0.])
    labels = torch.tensor([[[0, 1], [1, 0]]])
    log2 = torch.log(torch.tensor(2.))
    ce_21 = torch.log(1 + torch.exp(torch.tensor(2.)))  # label 1, logits 2/0
    mask = torch.tensor([[True, True]])
    loss = MaskedCrossEntropyLoss()(pred, labels, mask)
    ref = (log2 + log2 + ce_21 + log2) / 4
    assert torch.isclose(loss, ref)
    only_second = MaskedCrossEntropyLoss()(pred, labels,
                                           torch.tensor([[False, True]]))
    assert torch.isclose(only_second, (ce_21 + log2) / 2)


def test_cross_entropy_ignore_index_and_denominator():
    pred = torch.zeros(1, 2, 4)
    labels = torch.tensor([[[0, 255], [255, 255]]])
    mask = torch.tensor([[True, True]])
    log2 = torch.log(torch.tensor(2.))
    ours = MaskedCrossEntropyLoss(ignore_index=255)(pred, labels, mask)
    assert torch.isclose(ours, log2)  # 1 valid pixel
    official = MaskedCrossEntropyLoss(
        ignore_index=255, avg_non_ignore=False)(pred, labels, mask)
    assert torch.isclose(official, log2 / 4)  # all 4 masked pixels count
    # A sample whose masked pixels are all ignored is left out.
    pred2 = torch.zeros(2, 2, 4)
    labels2 = torch.tensor([[[0, 0], [1, 1]], [[255, 255], [0, 1]]])
    mask2 = torch.tensor([[True, False], [True, False]])
    assert torch.isclose(
        MaskedCrossEntropyLoss(ignore_index=255)(pred2, labels2, mask2), log2)
    # Unmasked: mean over valid pixels (official: over all pixels).
    un = MaskedCrossEntropyLoss(ignore_index=255, loss_on_unmasked=True)
    assert torch.isclose(un(pred, labels, mask), log2)
    un_off = MaskedCrossEntropyLoss(
        ignore_index=255, loss_on_unmasked=True, avg_non_ignore=False)
    assert torch.isclose(un_off(pred, labels, mask), log2 / 4)


def test_cross_entropy_matches_image_loss_with_label_smoothing():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 8, 12)
    labels = torch.randint(0, 5, (2, 8, 12))
    pred = patchify(logits, 4)
    lab = patchify(labels[:, None], 4)
    loss = MaskedCrossEntropyLoss(label_smoothing=0.1)(pred, lab)
    ref = F.cross_entropy(logits, labels, label_smoothing=0.1)
    assert torch.isclose(loss, ref, atol=1e-6)
    with pytest.raises(ValueError, match='label patches'):
        MaskedCrossEntropyLoss()(pred[..., :-1], lab)


def test_losses_registered():
    for name in ('MaskedMSELoss', 'MaskedL1Loss', 'MaskedCrossEntropyLoss',
                 'TaskWeighting'):
        assert MODELS.get(name) is not None
    loss = MODELS.build(dict(type='MaskedMSELoss', loss_weight=2.))
    assert loss.loss_weight == 2.


def test_task_weighting_modes():
    losses = {'rgb': torch.tensor(2.), 'depth': torch.tensor(0.5)}
    assert TaskWeighting()(losses) == losses
    fixed = TaskWeighting('fixed', weights={'rgb': 0.5, 'depth': 2.})
    out = fixed(losses)
    assert out['rgb'].item() == 1. and out['depth'].item() == 1.
    unc = TaskWeighting('uncertainty', modalities=['rgb', 'depth', 'semseg'])
    with torch.no_grad():
        unc.log_vars.copy_(torch.tensor([0.5, -1., 2.]))
    losses['semseg'] = torch.tensor(0.)  # no masked token -> no term
    out = unc(losses)
    assert torch.isclose(out['rgb'], torch.exp(torch.tensor(-0.5)) * 2 + 0.5)
    assert torch.isclose(out['depth'], torch.exp(torch.tensor(1.)) * 0.5 - 1)
    assert out['semseg'].item() == 0.
    sum(out.values()).backward()
    assert unc.log_vars.grad[2] == 0 and unc.log_vars.grad[0] != 0


def test_task_weighting_errors():
    with pytest.raises(ValueError, match='mode'):
        TaskWeighting('learned')
    with pytest.raises(ValueError, match='weights'):
        TaskWeighting('fixed')
    with pytest.raises(ValueError, match='modalities'):
        TaskWeighting('uncertainty')
    with pytest.raises(KeyError, match='unknown tasks'):
        TaskWeighting(
            'fixed', weights={'rgb': 1.})({
                'depth': torch.tensor(1.)
            })
