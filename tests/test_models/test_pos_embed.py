# Copyright (c) mmmultimae contributors. All rights reserved.
import os
import re

import pytest
import torch
import torch.nn.functional as F

from mmmultimae.models.utils.pos_embed import (build_2d_sincos_pos_embed,
                                               resize_pos_embed)

FIXTURE = os.environ.get(
    'MMMULTIMAE_OFFICIAL_FIXTURE',
    os.path.join(
        os.path.dirname(__file__), '..', 'data', 'official_multimae_tiny.pth'))


def official_layout_table(h: int, w: int, dims: int) -> torch.Tensor:
    """The official MoCo-v3 builder as documented in the reference.

    ``meshgrid(arange(w), arange(h))`` (ij) flattened w-major, read back as
    ``(h w)``.
    """
    grid_w, grid_h = torch.meshgrid(
        torch.arange(w, dtype=torch.float32),
        torch.arange(h, dtype=torch.float32),
        indexing='ij')
    quarter = dims // 4
    exponent = torch.arange(quarter, dtype=torch.float32) / quarter
    omega = 1. / (10000.**exponent)
    out_w = torch.einsum('m,d->md', grid_w.flatten(), omega)
    out_h = torch.einsum('m,d->md', grid_h.flatten(), omega)
    emb = torch.cat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], 1)
    return emb.reshape(h, w, dims).permute(2, 0, 1)[None]


@pytest.mark.parametrize('side,dims', [(1, 4), (3, 8), (4, 96), (14, 64)])
def test_square_equals_official_builder(side, dims):
    ours = build_2d_sincos_pos_embed((side, side), dims)
    assert ours.shape == (1, dims, side, side)
    assert ours.dtype == torch.float32
    assert torch.equal(ours, official_layout_table(side, side, dims))


def test_matches_recorded_official_tables():
    """Official (h, w) table == ours for (w, h), flattened and read (h, w).

    For a square grid this is plain equality; for the fixture's non-square
    grid it pins down exactly how the official builder scrambles it.
    """
    fixture = torch.load(FIXTURE, weights_only=True)
    tables = fixture['pretrain']['sincos_builder_reference']
    assert tables
    for key, official in tables.items():
        h, w, dims = map(
            int,
            re.fullmatch(
                r'build_2d_sincos_posemb\(h=(\d+), w=(\d+), '
                r'embed_dim=(\d+)\)', key).groups())
        assert official.shape == (1, dims, h, w)
        scrambled = build_2d_sincos_pos_embed((w, h), dims).flatten(2)
        # sin/cos of float32 products may differ by an ulp between CPU
        # kernels (7e-9 seen on AMD EPYC); a wrong layout differs by O(1)
        assert torch.allclose(
            scrambled.reshape(1, dims, h, w), official, rtol=0, atol=1e-7)
        ours = build_2d_sincos_pos_embed((h, w), dims)
        if h != w:
            # The official table is not a clean 2-D table; ours is.
            assert not torch.allclose(ours, official)
        else:
            assert torch.allclose(ours, official, rtol=0, atol=1e-7)


def test_channel_layout_rows_then_columns():
    h, w, dims = 3, 5, 16
    table = build_2d_sincos_pos_embed((h, w), dims)[0]
    quarter = dims // 4
    omega = 1. / (10000.**(torch.arange(quarter) / quarter))
    rows = torch.arange(h, dtype=torch.float32)[:, None] * omega  # (h, q)
    cols = torch.arange(w, dtype=torch.float32)[:, None] * omega  # (w, q)
    expected = [
        rows.sin().T[:, :, None].expand(quarter, h, w),
        rows.cos().T[:, :, None].expand(quarter, h, w),
        cols.sin().T[:, None, :].expand(quarter, h, w),
        cols.cos().T[:, None, :].expand(quarter, h, w),
    ]
    for i, exp in enumerate(expected):
        torch.testing.assert_close(
            table[i * quarter:(i + 1) * quarter], exp, rtol=0, atol=1e-6)
    # Row quarters do not depend on the column and vice versa.
    assert torch.equal(table[:2 * quarter, :, :1].expand(-1, h, w),
                       table[:2 * quarter])
    assert torch.equal(table[2 * quarter:, :1].expand(-1, h, w),
                       table[2 * quarter:])


@pytest.mark.parametrize('grid', [(4, 6), (6, 4), (1, 7), (2, 3)])
def test_non_square_is_crop_of_square(grid):
    side = max(grid)
    square = build_2d_sincos_pos_embed((side, side), 32)
    table = build_2d_sincos_pos_embed(grid, 32)
    assert table.shape == (1, 32, *grid)
    assert torch.equal(table, square[:, :, :grid[0], :grid[1]])


def test_int_grid_and_temperature():
    assert torch.equal(
        build_2d_sincos_pos_embed(3, 8), build_2d_sincos_pos_embed((3, 3), 8))
    hot = build_2d_sincos_pos_embed((2, 2), 8, temperature=100.)
    assert not torch.equal(hot, build_2d_sincos_pos_embed((2, 2), 8))
    # channel 1 of the row sine uses omega = 1 / 100 ** (1 / 2) = 0.1
    assert hot[0, 1, 1, 0].item() == pytest.approx(
        torch.sin(torch.tensor(0.1)).item(), abs=1e-7)


@pytest.mark.parametrize('dims', [6, 30])
def test_dims_must_be_multiple_of_four(dims):
    with pytest.raises(ValueError, match='multiple of 4'):
        build_2d_sincos_pos_embed((2, 2), dims)


@pytest.mark.parametrize('grid', [(0, 3), (2, -1)])
def test_grid_must_be_positive(grid):
    with pytest.raises(ValueError, match='positive'):
        build_2d_sincos_pos_embed(grid, 8)


def test_grid_type_is_checked():
    with pytest.raises(TypeError, match='grid'):
        build_2d_sincos_pos_embed((2.5, 2), 8)


def test_resize_identity_at_native_grid():
    table = torch.randn(1, 8, 4, 6)
    assert resize_pos_embed(table, (4, 6), 'bicubic') is table
    # Official always interpolates; at the native grid that is the identity
    # too, so skipping it changes nothing.
    for mode in ('bicubic', 'bilinear'):
        same = F.interpolate(
            table, size=(4, 6), mode=mode, align_corners=False)
        assert torch.equal(same, table)


@pytest.mark.parametrize('mode', ['bicubic', 'bilinear'])
@pytest.mark.parametrize('grid', [(2, 3), (5, 7), (8, 4)])
def test_resize_to_other_grids(mode, grid):
    table = torch.randn(1, 8, 4, 6)
    out = resize_pos_embed(table, grid, mode)
    assert out.shape == (1, 8, *grid)
    assert torch.equal(
        out, F.interpolate(table, size=grid, mode=mode, align_corners=False))


def test_resize_checks_shape():
    with pytest.raises(ValueError, match=r'\(1, D, h, w\)'):
        resize_pos_embed(torch.randn(8, 4, 6), (2, 3), 'bicubic')
