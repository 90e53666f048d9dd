# Copyright (c) mmmultimae contributors. All rights reserved.
"""mmseg's SegmenterMaskTransformerHead is MultiMAE's Segmenter-Mask head
(equality with the official head: test_official_heads.py); here it runs on
MultiViT maps."""
import pytest
import torch
import torch.nn.functional as F

from mmmultimae.registry import MODELS

D = 32  # width of the tiny backbone (conftest)


def segmenter(in_channels: int):
    # As convert_official_head_cfg builds it: LN eps 1e-6, no dropout.
    return MODELS.build(
        dict(
            type='SegmenterMaskTransformerHead',
            in_channels=in_channels,
            channels=16,
            num_classes=5,
            num_layers=2,
            num_heads=2,
            embed_dims=16,
            drop_path_rate=0.,
            norm_cfg=dict(type='LN', eps=1e-6),
            dropout_ratio=0.,
            in_index=-1,
            loss_decode=dict(type='CrossEntropyLoss', avg_non_ignore=True)))


@pytest.mark.parametrize('modalities', [('rgb', ), ('rgb', 'depth')])
def test_segmenter_on_multivit_maps(backbone_maps, seg_samples, modalities):
    maps = backbone_maps(modalities, size=(64, 96))
    head = segmenter(D * len(modalities))
    head.init_weights()
    logits = head(maps)
    assert logits.shape == (2, 5, 4, 6)  # the token grid
    labels = torch.randint(0, 5, (2, 64, 96))
    labels[1, 10:20] = 255
    losses = head.loss_by_feat(logits, seg_samples(labels))
    up = F.interpolate(logits, size=(64, 96), mode='bilinear')
    ref = F.cross_entropy(up, labels, ignore_index=255)
    assert torch.allclose(losses['loss_ce'], ref, rtol=1e-5)
    losses['loss_ce'].backward()
    assert head.cls_emb.grad.abs().sum() > 0
    assert head.layers[0].attn.attn.in_proj_weight.grad is not None
