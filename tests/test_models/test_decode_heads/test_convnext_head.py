# Copyright (c) mmmultimae contributors. All rights reserved.
import math

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from mmmultimae.models.decode_heads import (ConvNeXtHead,
                                            init_official_head_weights,
                                            patch_tokens_to_map)

D = 32  # width of the tiny backbone (conftest)


def head(in_channels=D, **kwargs) -> ConvNeXtHead:
    cfg = dict(
        in_channels=in_channels,
        channels=8,
        preds_per_patch=16,
        num_blocks=2,
        num_classes=5,
        loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True))
    cfg.update(kwargs)
    return ConvNeXtHead(**cfg).eval()


def test_patch_tokens_to_map_matches_official_rearrange():
    b, h, w, s, c = 2, 3, 5, 4, 6
    x = torch.randn(b, h, w, s * s * c)
    # Official ConvNeXtAdapter: tokens (B, N, E) -> (p c) -> pixels.
    tokens = x.reshape(b, h * w, -1)
    ref = rearrange(tokens, 'b n (p c) -> b (n p) c', p=s * s, c=c)
    ref = rearrange(
        ref,
        'b (nh nw ph pw) c -> b c (nh ph) (nw pw)',
        nh=h,
        nw=w,
        ph=s,
        pw=s)
    assert torch.equal(patch_tokens_to_map(x, s), ref)


@pytest.mark.parametrize('modalities', [('rgb', ), ('rgb', 'depth')])
def test_forward_shape_single_and_two_modality_readout(backbone_maps,
                                                       modalities):
    maps = backbone_maps(modalities)
    assert maps[-1].shape == (2, D * len(modalities), 4, 4)
    out = head(in_channels=D * len(modalities), in_index=-1)(maps)
    assert out.shape == (2, 5, 16, 16)  # H / 4 for 16 predictions per patch


def test_preds_per_patch_sets_the_output_stride(backbone_maps):
    out = head(preds_per_patch=64)(backbone_maps())  # 8 x 8 per token
    assert out.shape == (2, 5, 32, 32)


def test_block_is_the_official_convnext_block():
    """timm's block = dw 7x7 -> LN(1e-6) -> Linear 4x -> GELU -> Linear,
    residual, no layer scale."""
    model = head(num_blocks=1)
    block = model.blocks[0]
    assert block.gamma is None and block.norm.eps == 1e-6
    for p in block.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(2, 8, 6, 10)
    y = F.conv2d(
        x, block.conv_dw.weight, block.conv_dw.bias, padding=3, groups=8)
    y = y.permute(0, 2, 3, 1)
    y = F.layer_norm(y, (8, ), block.norm.weight, block.norm.bias, 1e-6)
    y = F.linear(
        F.gelu(F.linear(y, block.mlp.fc1.weight, block.mlp.fc1.bias)),
        block.mlp.fc2.weight, block.mlp.fc2.bias)
    ref = x + y.permute(0, 3, 1, 2)
    assert torch.allclose(block(x), ref, atol=1e-5)


def test_drop_path_increases_linearly():
    model = head(num_blocks=3, drop_path_rate=0.2)
    rates = [getattr(b.drop_path, 'drop_prob', 0.) for b in model.blocks]
    assert rates == pytest.approx([0., 0.1, 0.2])


def test_loss_by_feat_ignores_255(backbone_maps, seg_samples):
    model = head()
    maps = backbone_maps()
    labels = torch.randint(0, 5, (2, 64, 64))
    labels[:, :10] = 255
    logits = model(maps)
    losses = model.loss_by_feat(logits, seg_samples(labels))
    up = F.interpolate(
        logits, size=(64, 64), mode='bilinear', align_corners=False)
    ref = F.cross_entropy(up, labels, ignore_index=255)
    assert torch.allclose(losses['loss_ce'], ref, rtol=1e-5)
    assert 'acc_seg' in losses
    losses['loss_ce'].backward()
    assert model.dec_proj.weight.grad.abs().sum() > 0


def test_bad_inputs(backbone_maps):
    maps = backbone_maps()
    with pytest.raises(ValueError, match=r'C = \[64\]'):
        head(in_channels=2 * D)(maps)
    with pytest.raises(ValueError, match='square'):
        head(preds_per_patch=8)
    with pytest.raises(ValueError, match='square'):
        head(preds_per_patch=0)
    with pytest.raises(IndexError, match=r'in_index=4.*gave 4'):
        head(in_index=4)(maps)
    with pytest.raises(ValueError, match='input_transform'):
        head(
            in_index=[0, 1],
            in_channels=[D, D],
            input_transform='multiple_select')


def xavier_bound(linear: torch.nn.Linear) -> float:
    fan_out, fan_in = linear.weight.shape
    return math.sqrt(6. / (fan_in + fan_out))


def test_official_init():
    model = head(in_channels=96, channels=16, num_blocks=1)
    for p in model.parameters():
        torch.nn.init.constant_(p, 7.)
    model.init_weights()
    linears = [
        model.dec_proj, model.blocks[0].mlp.fc1, model.blocks[0].mlp.fc2
    ]
    for linear in linears:  # xavier-uniform, bias 0
        bound = xavier_bound(linear)
        w = linear.weight.abs()
        assert 0.9 * bound < w.max() <= bound
        assert (linear.bias == 0).all()
    norm = model.blocks[0].norm
    assert (norm.weight == 1).all() and (norm.bias == 0).all()
    # Convs: PyTorch's default (bound 1 / sqrt(fan_in)), not mmseg's
    # Normal(0.01) of conv_seg.
    for conv in (model.conv_seg, model.blocks[0].conv_dw):
        fan_in = conv.weight[0].numel()
        bound = 1 / math.sqrt(fan_in)
        assert 0.5 * bound < conv.weight.abs().max() <= bound


def test_fresh_head_has_official_init_and_init_cfg_applies_after():
    model = head(in_channels=96, channels=16)
    bound = xavier_bound(model.dec_proj)
    assert model.dec_proj.weight.abs().max() <= bound
    assert (model.dec_proj.bias == 0).all()
    model = head(init_cfg=dict(type='Constant', val=0.5, layer='Conv2d'))
    model.init_weights()
    assert (model.conv_seg.weight == 0.5).all()
    assert model.dec_proj.weight.abs().max() <= xavier_bound(model.dec_proj)


def test_init_official_head_weights_resets_convs_to_default():
    model = head()
    torch.nn.init.constant_(model.conv_seg.weight, 3.)
    init_official_head_weights(model)
    assert model.conv_seg.weight.abs().max() <= 1 / math.sqrt(8)
