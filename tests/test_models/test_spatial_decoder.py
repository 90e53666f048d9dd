# Copyright (c) mmmultimae contributors. All rights reserved.
import math

import pytest
import torch
import torch.nn.functional as F

from mmmultimae.models.decoders import MAEDecoder, SpatialDecoder
from mmmultimae.models.mask_samplers import DirichletMaskSampler, masks_to_ids
from mmmultimae.models.utils.blocks import CrossAttention
from mmmultimae.models.utils.patchify import (patchify, patchify_labels,
                                              unpatchify, unpatchify_labels)
from mmmultimae.models.utils.token_layout import TokenLayout
from mmmultimae.registry import MODELS

LAYOUT = TokenLayout({'rgb': (2, 3), 'depth': (2, 3), 'semseg': (2, 3)})
ENC_DIMS = 24


def make_decoder(**kwargs):
    cfg = dict(
        modality='rgb',
        out_channels=3,
        encoder_dims=ENC_DIMS,
        context_modalities=['rgb', 'depth', 'semseg'],
        embed_dims=32,
        num_layers=1,
        num_heads=4,
        image_size=(32, 48))
    cfg.update(kwargs)
    torch.manual_seed(0)
    decoder = SpatialDecoder(**cfg).eval()
    with torch.no_grad():  # no parameter at a trivial value
        for p in decoder.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return decoder


def sample(batch=3, num_visible=7, layout=LAYOUT, seed=0):
    g = torch.Generator().manual_seed(seed)
    masks = DirichletMaskSampler(
        num_visible, alpha=0.5)(layout, batch, 'cpu', g)
    ids_keep, ids_restore = masks_to_ids(masks)
    tokens = torch.randn(
        batch, num_visible + layout.num_global_tokens, ENC_DIMS, generator=g)
    return masks, tokens, ids_keep, ids_restore


def official_reference(dec, tokens, layout, ids_keep, ids_restore):
    """Official SpatialOutputAdapter steps, written out (full grids)."""
    b = tokens.shape[0]
    g = layout.num_global_tokens
    ctx = dec.context_proj(tokens)
    no_global = ctx[:, :-g]
    n_total = layout.total_tokens
    mask_tokens = dec.mask_token.expand(b, n_total - no_global.shape[1], -1)
    full = torch.cat([no_global, mask_tokens], dim=1)
    full = torch.gather(full, 1,
                        ids_restore[..., None].expand(-1, -1, full.shape[-1]))
    embs = []
    for name, grid in layout.grids.items():
        pos = F.interpolate(
            dec.pos_embed, size=grid, mode='bilinear',
            align_corners=False).flatten(2).transpose(1, 2)
        task = dec.task_embeds[name] if name in dec.task_embeds else 0.
        embs.append(pos + task)
    full = full + torch.cat(embs, dim=1)
    q_mod = dec.query_modality
    if dec.use_task_queries and q_mod in layout.grids:
        queries = full[:, layout.slices[q_mod]]
    else:
        grid = dec.query_grid(layout)
        pos = F.interpolate(
            dec.pos_embed, size=grid, mode='bilinear',
            align_corners=False).flatten(2).transpose(1, 2)
        queries = dec.mask_token + pos
        if q_mod in dec.task_embeds:
            queries = queries + dec.task_embeds[q_mod]
        queries = queries.expand(b, -1, -1)
    context = torch.gather(full, 1,
                           ids_keep[..., None].expand(-1, -1, full.shape[-1]))
    context = torch.cat([context, ctx[:, -g:]], dim=1)
    x = dec.cross_attn(dec.query_norm(queries), dec.context_norm(context))
    x = x + dec.mlp(dec.out_norm(x))
    for block in dec.blocks:
        x = block(x)
    return dec.head(x)


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(modality='depth', out_channels=1),
    dict(modality='semseg', out_channels=5, stride_level=4),
    dict(modality='norm_rgb', query_modality='rgb'),
    dict(use_task_queries=False),
    dict(context_modalities=['rgb']),
])
@pytest.mark.parametrize('num_visible', [0, 1, 7, 18])
def test_matches_official_steps(kwargs, num_visible):
    dec = make_decoder(**kwargs)
    _, tokens, ids_keep, ids_restore = sample(num_visible=num_visible)
    with torch.no_grad():
        out = dec(tokens, LAYOUT, ids_keep, ids_restore)
        ref = official_reference(dec, tokens, LAYOUT, ids_keep, ids_restore)
    assert out.shape == ref.shape
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)


def test_query_modality_not_an_input():
    layout = TokenLayout({'rgb': (2, 3), 'semseg': (2, 3)}, 2)
    dec = make_decoder(modality='depth', out_channels=1)
    _, tokens, ids_keep, ids_restore = sample(layout=layout, num_visible=5)
    with torch.no_grad():
        out = dec(tokens, layout, ids_keep, ids_restore)
        ref = official_reference(dec, tokens, layout, ids_keep, ids_restore)
    assert out.shape == (3, 6, 256)
    assert torch.allclose(out, ref, atol=1e-5)
    mixed = TokenLayout({'rgb': (2, 3), 'semseg': (4, 6)})
    with pytest.raises(ValueError, match='different grids'):
        dec.query_grid(mixed)


def test_output_shapes_and_semseg_resolution():
    dec = make_decoder(modality='semseg', out_channels=5, stride_level=4)
    assert dec.patch_size == (4, 4)
    _, tokens, ids_keep, ids_restore = sample()
    out = dec(tokens, LAYOUT, ids_keep, ids_restore)
    assert out.shape == (3, 6, 5 * 16)
    logits = unpatchify(out, (2, 3), dec.patch_size, 5)
    assert logits.shape == (3, 5, 8, 12)  # 1/4 of 32 x 48


def test_interpolated_pos_embed_at_other_grid():
    layout = TokenLayout({'rgb': (3, 5), 'depth': (3, 5)})
    dec = make_decoder()
    _, tokens, ids_keep, ids_restore = sample(layout=layout, num_visible=9)
    with torch.no_grad():
        out = dec(tokens, layout, ids_keep, ids_restore)
        ref = official_reference(dec, tokens, layout, ids_keep, ids_restore)
    assert out.shape == (3, 15, 768)
    assert torch.allclose(out, ref, atol=1e-5)


def test_state_dict_names_and_init():
    dec = SpatialDecoder(
        'rgb',
        3,
        ENC_DIMS, ['rgb', 'depth'],
        embed_dims=32,
        num_layers=2,
        num_heads=4,
        image_size=64)
    keys = set(dec.state_dict())
    for key in ('context_proj.weight', 'mask_token', 'pos_embed',
                'task_embeds.rgb', 'task_embeds.depth', 'cross_attn.q.weight',
                'cross_attn.kv.weight', 'cross_attn.proj.bias',
                'query_norm.weight', 'context_norm.bias', 'out_norm.weight',
                'mlp.fc1.weight', 'mlp.fc2.bias', 'blocks.1.attn.qkv.weight',
                'blocks.0.mlp.fc2.weight', 'head.weight', 'head.bias'):
        assert key in keys, key
    assert dec.pos_embed.shape == (1, 32, 4, 4)
    assert not dec.pos_embed.requires_grad
    dec.init_weights()
    assert torch.equal(dec.mask_token, torch.zeros(1, 1, 32))
    assert 0.005 < dec.task_embeds['rgb'].std() < 0.05
    kv = dec.cross_attn.kv.weight  # split-xavier: bound sqrt(6/(32+32))
    assert kv.abs().max() <= math.sqrt(6 / 64)
    assert kv.abs().max() > math.sqrt(6 / 96)  # beyond plain xavier bound
    qkv = dec.blocks[0].attn.qkv.weight
    assert qkv.abs().max() > math.sqrt(6 / 128)
    assert torch.equal(dec.query_norm.weight, torch.ones(32))
    assert torch.equal(dec.head.bias, torch.zeros(768))


def test_input_checks():
    dec = make_decoder()
    _, tokens, ids_keep, ids_restore = sample()
    with pytest.raises(ValueError, match='n_vis'):
        dec(tokens[:, 1:], LAYOUT, ids_keep, ids_restore)
    with pytest.raises(ValueError, match='ids_restore'):
        dec(tokens, LAYOUT, ids_keep, ids_restore[:, 1:])
    with pytest.raises(ValueError, match='divisible'):
        SpatialDecoder('rgb', 3, 8, ['rgb'], image_size=40)


def test_mae_decoder_uses_only_its_modality():
    torch.manual_seed(0)
    dec = MAEDecoder(
        'rgb',
        3,
        ENC_DIMS,
        embed_dims=32,
        num_layers=2,
        num_heads=4,
        image_size=(32, 48)).eval()
    masks, tokens, ids_keep, ids_restore = sample(num_visible=9)
    out = dec(tokens, LAYOUT, ids_keep, ids_restore)
    assert out.shape == (3, 6, 768)
    # Changing visible tokens of other modalities changes nothing ...
    other = ids_keep >= LAYOUT.slices['rgb'].stop
    changed = tokens.clone()
    changed[:, :9][other] += 1.
    assert torch.allclose(dec(changed, LAYOUT, ids_keep, ids_restore), out)
    # ... changing an rgb token does.
    changed[:, :9][~other] += 1.
    assert not torch.allclose(dec(changed, LAYOUT, ids_keep, ids_restore), out)
    with pytest.raises(KeyError, match='not among the inputs'):
        dec(tokens, TokenLayout({
            'depth': (2, 3),
            'x': (2, 6)
        }), ids_keep, ids_restore)
    d8 = MODELS.build(
        dict(
            type='MAEDecoder',
            modality='rgb',
            out_channels=3,
            encoder_dims=ENC_DIMS))
    assert (len(d8.blocks), d8.embed_dims) == (8, 512)
    assert d8.blocks[0].attn.num_heads == 16


def test_mae_decoder_matches_reference():
    torch.manual_seed(0)
    dec = MAEDecoder(
        'depth',
        1,
        ENC_DIMS,
        embed_dims=32,
        num_layers=1,
        num_heads=4,
        image_size=(32, 48)).eval()
    with torch.no_grad():
        dec.mask_token.normal_()
    masks, tokens, ids_keep, ids_restore = sample(num_visible=8)
    with torch.no_grad():
        out = dec(tokens, LAYOUT, ids_keep, ids_restore)
        x = dec.context_proj(tokens)
        full = torch.cat([x[:, :8], dec.mask_token.expand(3, 10, -1)], 1)
        full = torch.gather(full, 1, ids_restore[..., None].expand(-1, -1, 32))
        grid = full[:, LAYOUT.slices['depth']]
        grid = grid + dec.pos_embed.flatten(2).transpose(1, 2)
        seq = torch.cat([grid, x[:, 8:]], 1)
        for block in dec.blocks:
            seq = block(seq)
        ref = dec.head(dec.norm(seq))[:, :6]
    assert torch.allclose(out, ref, atol=1e-5)


def test_cross_attention_matches_explicit_softmax():
    torch.manual_seed(0)
    attn = CrossAttention(16, 4).eval()
    x, ctx = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    q = attn.q(x).reshape(2, 5, 4, 4).transpose(1, 2)
    k, v = attn.kv(ctx).reshape(2, 7, 2, 4, 4).permute(2, 0, 3, 1, 4)
    w = (q @ k.transpose(-2, -1) * 4**-0.5).softmax(-1)
    ref = attn.proj((w @ v).transpose(1, 2).reshape(2, 5, 16))
    assert torch.allclose(attn(x, ctx), ref, atol=1e-6)
    with pytest.raises(ValueError, match='divisible'):
        CrossAttention(10, 4)


def test_patchify_layout_and_round_trip():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    p = patchify(x, 2)
    assert p.shape == (2, 6, 12)
    # token 1 = patch (row 0, col 1); (c ph pw) order
    assert torch.equal(p[0, 1].reshape(3, 2, 2), x[0, :, 0:2, 2:4])
    assert torch.equal(p[1, 4].reshape(3, 2, 2), x[1, :, 2:4, 2:4])
    assert torch.equal(unpatchify(p, (2, 3), 2, 3), x)
    labels = torch.randint(0, 9, (2, 4, 6))
    lp = patchify_labels(labels, (2, 2))
    assert torch.equal(lp[0, 5].reshape(2, 2), labels[0, 2:4, 4:6])
    assert torch.equal(unpatchify_labels(lp, (2, 3), 2), labels)
    with pytest.raises(ValueError, match='not divisible'):
        patchify(x, 4)
    with pytest.raises(ValueError, match='unpatchify expects'):
        unpatchify(p, (3, 3), 2, 3)
    with pytest.raises(ValueError, match=r'\(B, H, W\)'):
        patchify_labels(x, 2)
