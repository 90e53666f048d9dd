# Copyright (c) mmmultimae contributors. All rights reserved.
import math

import pytest
import torch
import torch.nn.functional as F

from mmmultimae.models import PatchInputAdapter, SemSegInputAdapter
from mmmultimae.models.utils.pos_embed import build_2d_sincos_pos_embed
from mmmultimae.registry import MODELS


def _manual_tokens(conv_out, pos, mode):
    pos = F.interpolate(
        pos, size=conv_out.shape[-2:], mode=mode, align_corners=False)
    return (conv_out + pos).flatten(2).transpose(1, 2)


@pytest.mark.parametrize('channels', [1, 3, 5])
def test_patch_adapter_any_channels(channels):
    adapter = PatchInputAdapter(channels, 32, image_size=(32, 48))
    x = torch.randn(2, channels, 32, 48)
    tokens = adapter(x)
    assert tokens.shape == (2, 2 * 3, 32)
    assert adapter.proj.weight.shape == (32, channels, 16, 16)
    assert adapter.token_grid(x) == (2, 3)


def test_patch_adapter_tokens_are_row_major_conv_plus_table():
    torch.manual_seed(0)
    adapter = PatchInputAdapter(3, 16, patch_size=8, image_size=(16, 32))
    x = torch.randn(1, 3, 16, 32)
    tokens = adapter(x)
    conv = adapter.proj(x)  # (1, 16, 2, 4)
    h, w = conv.shape[-2:]
    for n in range(h * w):
        expected = conv[0, :, n // w, n % w] + adapter.pos_embed[0, :, n // w,
                                                                 n % w]
        torch.testing.assert_close(tokens[0, n], expected)


def test_patch_adapter_table_is_frozen_parameter_in_state_dict():
    adapter = PatchInputAdapter(3, 32, image_size=(64, 96))
    assert isinstance(adapter.pos_embed, torch.nn.Parameter)
    assert not adapter.pos_embed.requires_grad
    assert adapter.pos_embed.shape == (1, 32, 4, 6)
    assert torch.equal(adapter.pos_embed, build_2d_sincos_pos_embed((4, 6),
                                                                    32))
    assert set(
        adapter.state_dict()) == {'pos_embed', 'proj.weight', 'proj.bias'}
    learnable = PatchInputAdapter(
        3, 32, learnable_pos_embed=True, image_size=64)
    assert learnable.pos_embed.requires_grad
    assert learnable.pos_embed.shape == (1, 32, 4, 4)


def test_patch_adapter_stride_level():
    # Half-resolution input, 8x8 patches, same 4x6 table as full resolution.
    adapter = PatchInputAdapter(
        2, 32, patch_size=16, stride_level=2, image_size=(64, 96))
    assert adapter.patch_size == 8
    assert adapter.pos_embed.shape == (1, 32, 4, 6)
    assert adapter(torch.randn(1, 2, 32, 48)).shape == (1, 24, 32)


@pytest.mark.parametrize('size', [(32, 48), (48, 80), (16, 112)])
def test_patch_adapter_interpolates_bicubic(size):
    torch.manual_seed(0)
    adapter = PatchInputAdapter(3, 16, image_size=(64, 96))
    with torch.no_grad():
        adapter.pos_embed.normal_()  # not a smooth table
    x = torch.randn(2, 3, *size)
    expected = _manual_tokens(adapter.proj(x), adapter.pos_embed, 'bicubic')
    # the adapter runs the conv as a GEMM: equal up to float rounding
    torch.testing.assert_close(adapter(x), expected, rtol=1e-5, atol=1e-5)
    bilinear = PatchInputAdapter(
        3, 16, image_size=(64, 96), interpolate_mode='bilinear')
    bilinear.load_state_dict(adapter.state_dict())
    assert not torch.allclose(bilinear(x), adapter(x))


def test_patch_adapter_errors():
    adapter = PatchInputAdapter(3, 16, image_size=64)
    with pytest.raises(ValueError, match='not divisible by the patch size'):
        adapter(torch.randn(1, 3, 64, 40))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        adapter(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        adapter(torch.randn(3, 64, 64))
    with pytest.raises(ValueError, match='image_size'):
        PatchInputAdapter(3, 16, image_size=(64, 90))
    with pytest.raises(ValueError, match='interpolate_mode'):
        PatchInputAdapter(3, 16, interpolate_mode='cubic')
    with pytest.raises(TypeError, match='image_size'):
        PatchInputAdapter(3, 16, image_size=(64, 64, 64))


def test_patch_adapter_official_init():
    adapter = PatchInputAdapter(3, 64, image_size=32)
    bias = adapter.proj.bias.detach().clone()
    adapter.init_weights()
    weight = adapter.proj.weight.view(64, -1)
    bound = math.sqrt(6. / (weight.shape[0] + weight.shape[1]))
    assert weight.abs().max() <= bound
    # xavier-uniform std = bound / sqrt(3)
    assert weight.std().item() == pytest.approx(bound / math.sqrt(3), 0.05)
    assert torch.equal(adapter.proj.bias, bias)  # PyTorch default kept


def test_adapters_build_from_registry():
    patch = MODELS.build(
        dict(type='PatchInputAdapter', in_channels=1, embed_dims=16))
    semseg = MODELS.build(
        dict(type='SemSegInputAdapter', num_classes=4, embed_dims=16))
    assert isinstance(patch, PatchInputAdapter)
    assert isinstance(semseg, SemSegInputAdapter)
    assert patch.pos_embed.shape == semseg.pos_embed.shape == (1, 16, 14, 14)


def test_semseg_adapter_forward_matches_manual():
    torch.manual_seed(0)
    adapter = SemSegInputAdapter(
        5, 32, image_size=(64, 96), class_embed_dims=8)
    assert adapter.patch_size == 4
    assert adapter.proj.weight.shape == (32, 8, 4, 4)
    with torch.no_grad():
        adapter.pos_embed.normal_()
    for size in [(16, 24), (8, 12), (12, 32)]:
        ids = torch.randint(0, 5, (2, *size))
        emb = adapter.class_embed(ids).permute(0, 3, 1, 2)
        expected = _manual_tokens(
            adapter.proj(emb), adapter.pos_embed, 'bilinear')
        out = adapter(ids)
        assert out.shape == (2, size[0] * size[1] // 16, 32)
        # conv run as a GEMM: equal up to float rounding
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    # int32 ids work too
    ids = torch.randint(0, 5, (1, 16, 24))
    torch.testing.assert_close(adapter(ids.int()), adapter(ids))


def test_semseg_adapter_rejects_bad_ids():
    adapter = SemSegInputAdapter(5, 16, image_size=64)
    ids = torch.zeros(1, 16, 16, dtype=torch.long)
    ids[0, 3, 3] = 5
    with pytest.raises(ValueError, match=r'\[0, 5\).*\[0, 5\]'):
        adapter(ids)
    ids[0, 3, 3] = -1
    with pytest.raises(ValueError, match=r'\[0, 5\)'):
        adapter(ids)
    with pytest.raises(ValueError, match='integer class ids'):
        adapter(torch.zeros(1, 16, 16))
    with pytest.raises(ValueError, match='integer class ids'):
        adapter(torch.zeros(1, 1, 16, 16, dtype=torch.long))
    with pytest.raises(ValueError, match='not divisible'):
        adapter(torch.zeros(1, 16, 18, dtype=torch.long))


def test_semseg_adapter_padding_class():
    adapter = SemSegInputAdapter(
        5, 16, image_size=64, class_embed_dims=8, padding_class=True)
    assert adapter.class_embed.num_embeddings == 6
    assert adapter.class_embed.padding_idx == 5
    adapter.init_weights()
    assert torch.count_nonzero(adapter.class_embed.weight[5]) == 0
    assert torch.count_nonzero(adapter.class_embed.weight[:5]) == 40
    ids = torch.full((2, 16, 16), 5, dtype=torch.long)
    ids[:, :8] = 2
    adapter(ids).sum().backward()
    grad = adapter.class_embed.weight.grad
    assert torch.count_nonzero(grad[5]) == 0  # void row gets no gradient
    assert torch.count_nonzero(grad[2]) > 0
    ids[0, 0, 0] = 6
    with pytest.raises(ValueError, match=r'\[0, 5\] \(5 = void\)'):
        adapter(ids)


def test_semseg_adapter_official_init():
    torch.manual_seed(0)
    adapter = SemSegInputAdapter(100, 64, class_embed_dims=64)
    adapter.init_weights()
    assert adapter.class_embed.weight.std().item() == pytest.approx(
        0.02, rel=0.05)
    weight = adapter.proj.weight.view(64, -1)
    assert weight.abs().max() <= math.sqrt(6. / sum(weight.shape))
    assert set(adapter.state_dict()) == {
        'pos_embed', 'class_embed.weight', 'proj.weight', 'proj.bias'
    }


def test_init_cfg_is_applied_after_official_init(tmp_path):
    source = PatchInputAdapter(3, 16, image_size=32)
    with torch.no_grad():
        source.proj.weight.fill_(0.5)
    path = str(tmp_path / 'adapter.pth')
    torch.save({'state_dict': source.state_dict()}, path)
    adapter = PatchInputAdapter(
        3,
        16,
        image_size=32,
        init_cfg=dict(type='Pretrained', checkpoint=path))
    adapter.init_weights()
    assert torch.equal(adapter.proj.weight, source.proj.weight)
