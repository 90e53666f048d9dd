# Copyright (c) mmmultimae contributors. All rights reserved.
"""Fixed 2-D sin-cos position tables and their resizing.

MultiMAE keeps one ``(1, D, h, w)`` table per adapter/decoder and resizes it
to the token grid of each forward pass. The channel layout is the MoCo-v3
one that official MultiMAE checkpoints were trained with: the channel
quarters hold ``sin(row * w_k)``, ``cos(row * w_k)``, ``sin(col * w_k)`` and
``cos(col * w_k)`` with ``w_k = 1 / temperature ** (k / (D / 4))``. This is
the transpose of MAE's ``get_2d_sincos_pos_embed`` (whose first half encodes
the column).

The official builder flattens a ``meshgrid(arange(w), arange(h))`` in
w-major order and reads it back as ``(h w)``. For square grids that is the
table above; for ``h != w`` it is a scrambled table (the official table for
``(h, w)`` equals ours for ``(w, h)`` flattened row-major and read back as
``(h, w)``). :func:`build_2d_sincos_pos_embed` builds the correct table for
any grid; checkpoints keep their (possibly scrambled) tables, which are
loaded, never rebuilt.
"""
from typing import Tuple, Union

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor


def to_2tuple_int(value: Union[int, Tuple[int, int]],
                  name: str = 'value') -> Tuple[int, int]:
    """Turn an int or a pair of ints into a ``(h, w)`` tuple.

    Args:
        value (int | tuple[int, int]): A size, square when an int.
        name (str): Name used in the error message.

    Returns:
        tuple[int, int]: ``(h, w)``.
    """
    if isinstance(value, int):
        return value, value
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, int) for v in value)):
        return int(value[0]), int(value[1])
    raise TypeError(f'{name} must be an int or a pair of ints (H, W), '
                    f'got {value!r}')


def build_2d_sincos_pos_embed(grid: Tuple[int, int],
                              embed_dims: int,
                              temperature: float = 10000.) -> Tensor:
    """Build the 2-D sin-cos position table of a ``(h, w)`` token grid.

    Args:
        grid (tuple[int, int]): Token grid ``(h, w)``.
        embed_dims (int): Number of channels ``D``; a multiple of 4.
        temperature (float): Frequency base. Defaults to 10000.

    Returns:
        Tensor: float32 table of shape ``(1, D, h, w)``; channel quarters are
        ``sin(row w)``, ``cos(row w)``, ``sin(col w)``, ``cos(col w)``.
    """
    h, w = to_2tuple_int(grid, 'grid')
    if h <= 0 or w <= 0:
        raise ValueError(f'grid must be positive, got {(h, w)}')
    if embed_dims % 4 != 0:
        raise ValueError('embed_dims must be a multiple of 4 for a 2-D '
                         f'sin-cos table, got {embed_dims}')
    quarter = embed_dims // 4
    omega = torch.arange(quarter, dtype=torch.float32) / quarter
    omega = 1. / (temperature**omega)
    rows = torch.arange(h, dtype=torch.float32)
    cols = torch.arange(w, dtype=torch.float32)
    out_r = torch.einsum('m,d->md', rows, omega)  # (h, D/4)
    out_c = torch.einsum('m,d->md', cols, omega)  # (w, D/4)
    row_part = torch.cat([out_r.sin(), out_r.cos()], dim=1)  # (h, D/2)
    col_part = torch.cat([out_c.sin(), out_c.cos()], dim=1)  # (w, D/2)
    table = torch.cat([
        row_part[:, None, :].expand(h, w, 2 * quarter),
        col_part[None, :, :].expand(h, w, 2 * quarter)
    ],
                      dim=2)  # (h, w, D)
    return table.permute(2, 0, 1).unsqueeze(0).contiguous()


def resize_pos_embed(pos_embed: Tensor, grid: Tuple[int, int],
                     mode: str) -> Tensor:
    """Resize a ``(1, D, h, w)`` position table to another token grid.

    Uses ``F.interpolate(..., align_corners=False)`` as official MultiMAE does
    (``'bicubic'`` for patch adapters, ``'bilinear'`` for semseg and the
    decoders). The input is returned unchanged when the grid already
    matches.

    Args:
        pos_embed (Tensor): Table of shape ``(1, D, h, w)``.
        grid (tuple[int, int]): Target grid ``(h', w')``.
        mode (str): Interpolation mode of :func:`F.interpolate`.

    Returns:
        Tensor: Table of shape ``(1, D, h', w')``.
    """
    if pos_embed.dim() != 4:
        raise ValueError('pos_embed must have shape (1, D, h, w), got '
                         f'{tuple(pos_embed.shape)}')
    grid = (int(grid[0]), int(grid[1]))
    if tuple(pos_embed.shape[-2:]) == grid:
        return pos_embed
    return F.interpolate(pos_embed, size=grid, mode=mode, align_corners=False)


def pos_embed_tokens(pos_embed: Tensor, grid: Tuple[int, int],
                     mode: str) -> Tensor:
    """A position table resized to ``grid`` and laid out as tokens.

    Args:
        pos_embed (Tensor): Table of shape ``(1, D, h, w)``.
        grid (tuple[int, int]): Token grid ``(h', w')``.
        mode (str): Interpolation mode, see :func:`resize_pos_embed`.

    Returns:
        Tensor: ``(1, h' * w', D)``, row-major over the grid.
    """
    table = resize_pos_embed(pos_embed, grid, mode)
    return rearrange(table, 'b d h w -> b (h w) d')
