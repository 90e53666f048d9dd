# Copyright (c) mmmultimae contributors. All rights reserved.
"""Pre-training heads: targets, losses, predictions, precision policy."""
import pytest
import torch

from mmmultimae.models.heads import (PixelReconstructionHead,
                                     SemSegReconstructionHead)
from mmmultimae.models.losses import MaskedMSELoss
from mmmultimae.models.utils.patchify import (normalize_patches, patchify,
                                              unpatchify)
from mmmultimae.models.utils.token_layout import TokenLayout

LAYOUT = TokenLayout({'rgb': (2, 3)})


def _head(cls=PixelReconstructionHead, out_channels=3, stride=1, **kwargs):
    return cls(
        name=kwargs.pop('name', 'rgb'),
        decoder=dict(
            type='SpatialDecoder',
            out_channels=out_channels,
            embed_dims=16,
            num_layers=1,
            num_heads=2,
            patch_size=4,
            stride_level=stride,
            image_size=(8, 12)),
        loss=kwargs.pop('loss', dict(type='MaskedMSELoss')),
        encoder_dims=24,
        context_modalities=['rgb'],
        **kwargs)


def test_norm_target_matches_per_patch_standardisation():
    torch.manual_seed(0)
    img = torch.randn(2, 3, 8, 12)
    pred = torch.randn(2, 6, 3 * 16)
    mask = torch.rand(2, 6) > 0.4
    target = patchify(img, 4)  # (c ph pw) order
    # Reference: official patchify in (p1 p2 c) order, torch.var unbiased.
    ref_patches = img.reshape(2, 3, 2, 4, 3, 4).permute(0, 2, 4, 3, 5, 1)
    ref_patches = ref_patches.reshape(2, 6, 48)
    mean = ref_patches.mean(-1, keepdim=True)
    var = ref_patches.var(-1, keepdim=True)
    ref_norm = (ref_patches - mean) / (var + 1e-6).sqrt()
    # back to (c ph pw) order
    ref_norm = ref_norm.reshape(2, 6, 4, 4, 3).permute(0, 1, 4, 2, 3)
    ref_norm = ref_norm.reshape(2, 6, 48)
    assert torch.allclose(normalize_patches(target), ref_norm, atol=1e-6)
    head = _head(norm_target=True)
    assert torch.allclose(head.target_patches(img), ref_norm, atol=1e-6)
    loss = head.loss(pred, dict(rgb=img), dict(rgb=mask))
    ref = MaskedMSELoss()(pred, ref_norm, mask)
    assert torch.isclose(loss, ref)
    plain = _head().loss(pred, dict(rgb=img), dict(rgb=mask))
    assert not torch.isclose(loss, plain)
    assert torch.isclose(plain, MaskedMSELoss()(pred, target, mask))


def test_in_target_units_inverts_the_norm_target():
    target = torch.randn(1, 3, 8, 12) * 5 + 2
    normed = unpatchify(normalize_patches(patchify(target, 4)), (2, 3), 4, 3)
    head = _head(norm_target=True)
    assert torch.allclose(
        head.in_target_units(normed, target), target, atol=1e-4)
    assert _head().in_target_units(normed, target) is normed


def test_target_not_an_input_counts_as_masked_everywhere():
    torch.manual_seed(0)
    head = _head(name='normal', target='normal')
    pred = torch.randn(2, 6, 48)
    normal = torch.randn(2, 3, 8, 12)
    loss = head.loss(pred, dict(normal=normal), masks={})
    ref = MaskedMSELoss()(pred, patchify(normal, 4),
                          torch.ones(2, 6, dtype=torch.bool))
    assert torch.isclose(loss, ref)
    with pytest.raises(KeyError, match="target 'normal' of head 'normal'"):
        head.loss(pred, dict(rgb=normal), masks={})


def test_semseg_head_targets_predictions_and_errors():
    head = _head(
        SemSegReconstructionHead,
        out_channels=5,
        stride=4,
        name='semseg',
        loss=dict(type='MaskedCrossEntropyLoss'))
    assert head.patch_size == (1, 1) and head.target_size == (2, 3)
    labels = head.example_target(2, torch.Generator().manual_seed(0))
    assert labels.shape == (2, 2, 3) and labels.max() < 5
    assert head.target_patches(labels).shape == (2, 6, 1)
    with pytest.raises(ValueError, match='integer label maps'):
        head.target_patches(labels.float())
    logits = torch.randn(2, 6, 5)
    out = head.predict(logits, LAYOUT)
    assert out['pred_semseg'].shape == (2, 5, 2, 3)
    assert torch.equal(out['pred_semseg_label'],
                       out['pred_semseg'].argmax(1))
    pixel = _head()
    with pytest.raises(ValueError, match='float image'):
        pixel.target_patches(labels)
    assert set(pixel.predict(torch.randn(2, 6, 48), LAYOUT)) == {'pred_rgb'}


def test_fp32_under_fp16_policy():
    torch.manual_seed(0)
    tokens = torch.randn(2, 7, 24)
    ids_keep = torch.tensor([[0, 2, 4, 5, 1, 3]] * 2)  # every token visible
    ids_restore = torch.argsort(ids_keep, dim=1)
    guarded = _head(fp32_under_fp16=True)
    plain = _head()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.float16):
        args = (tokens, LAYOUT, ids_keep, ids_restore)
        assert guarded(*args).dtype == torch.float32
        assert plain(*args).dtype == torch.float16
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        assert guarded(*args).dtype == torch.bfloat16
