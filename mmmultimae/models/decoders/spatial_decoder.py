# Copyright (c) mmmultimae contributors. All rights reserved.
"""MultiMAE's cross-attention decoder for spatial outputs."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from timm.layers import trunc_normal_
from torch import Tensor, nn

from mmmultimae.registry import MODELS
from ..utils.blocks import (CrossAttention, RecomputedGeluMlp,
                            build_vit_blocks, init_linear_and_norm_weights,
                            norm_layer)
from ..utils.pos_embed import (build_2d_sincos_pos_embed, resize_pos_embed,
                               to_2tuple_int)
from ..utils.token_layout import TokenLayout


def gather_tokens(x: Tensor, index: Tensor) -> Tensor:
    """Gather tokens along dim 1.

    Args:
        x (Tensor): Tokens ``(B, N, C)``, or ``(N, C)`` shared by the batch.
        index (Tensor): Indices ``(B, M)``.

    Returns:
        Tensor: ``(B, M, C)`` with ``out[b, i] = x[b, index[b, i]]``.
    """
    if x.dim() == 2:
        return x[index]
    # index_select on flattened rows, not torch.gather: autograd keeps only
    # the indices for its backward (an index_add), gather also keeps all of
    # ``x`` (e.g. the (B, 588, 768) tokens of every modality, only 98 of
    # which are encoded).
    b, n, c = x.shape
    offsets = torch.arange(b, device=x.device).unsqueeze(1) * n
    rows = (index + offsets).flatten()
    return x.reshape(b * n, c).index_select(0, rows).reshape(b, -1, c)


def modality_grid_tokens(tokens: Tensor, mask_token: Tensor,
                         ids_restore: Tensor, token_slice: slice) -> Tensor:
    """One modality's full token grid from the visible tokens.

    Position ``j`` of the modality holds its encoded token if visible, else
    ``mask_token``; equal to official MultiMAE's "append mask tokens, undo
    the shuffle, slice the modality" without building the other
    modalities' grids.

    Args:
        tokens (Tensor): Visible tokens ``(B, n_vis, C)`` in ``ids_keep``
            order.
        mask_token (Tensor): ``(1, 1, C)``.
        ids_restore (Tensor): ``(B, N_total)``, see ``masks_to_ids``.
        token_slice (slice): The modality's slice of the concatenation.

    Returns:
        Tensor: ``(B, N_m, C)``.
    """
    n_vis = tokens.shape[1]
    pos = ids_restore[:, token_slice]  # position in [visible, masked]
    b, n = pos.shape
    if n_vis == 0:
        return mask_token.expand(b, n, -1)
    picked = gather_tokens(tokens, pos.clamp(max=n_vis - 1))
    return torch.where((pos < n_vis).unsqueeze(-1), picked, mask_token)


def decoder_geometry(
        name: str, patch_size: int, stride_level: int,
        image_size: Union[int, Tuple[int, int]]
) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """Output patch size and token grid of a decoder.

    Args:
        name (str): Decoder description for error messages.
        patch_size (int): Patch size at full resolution.
        stride_level (int): Downsampling of the output (4 for semseg).
        image_size (int | tuple[int, int]): Full-resolution size.

    Returns:
        tuple: ``(ph, pw)`` output patch and ``(h, w)`` token grid.
    """
    if patch_size % stride_level:
        raise ValueError(f'{name}: patch_size {patch_size} is not divisible '
                         f'by stride_level {stride_level}')
    image_size = to_2tuple_int(image_size, 'image_size')
    if image_size[0] % patch_size or image_size[1] % patch_size:
        raise ValueError(f'{name}: image_size {image_size} is not divisible '
                         f'by patch_size {patch_size}')
    patch = (patch_size // stride_level, ) * 2
    return patch, (image_size[0] // patch_size, image_size[1] // patch_size)


def _check_decoder_inputs(encoder_tokens: Tensor, layout: TokenLayout,
                          ids_keep: Tensor, ids_restore: Tensor,
                          name: str) -> int:
    n_vis = ids_keep.shape[1]
    g = layout.num_global_tokens
    if encoder_tokens.dim() != 3 or encoder_tokens.shape[1] != n_vis + g:
        raise ValueError(
            f'{name}: encoder_tokens must have shape (B, n_vis + G, D) = '
            f'(B, {n_vis} + {g}, D), got {tuple(encoder_tokens.shape)}')
    if tuple(ids_restore.shape) != (encoder_tokens.shape[0],
                                    layout.total_tokens):
        raise ValueError(
            f'{name}: ids_restore must have shape (B, N_total) = '
            f'({encoder_tokens.shape[0]}, {layout.total_tokens}), got '
            f'{tuple(ids_restore.shape)}')
    return n_vis


class PatchDecoderBase(BaseModule):
    """Parts shared by the decoders: output geometry, ``context_proj``
    (encoder -> decoder width), ``mask_token``, the frozen sin-cos
    ``pos_embed`` (kept in the state dict, as official), ``num_layers``
    timm ``Block`` s and the linear ``head`` to ``(c ph pw)`` patches, and
    the official init (xavier linears with split q/k/v, LayerNorm 1/0,
    zero mask token). Subclasses add their own layers and ``forward``.

    Args: see :class:`SpatialDecoder` / :class:`MAEDecoder`.
    """

    def __init__(self, modality: str, out_channels: int, encoder_dims: int,
                 embed_dims: int, num_layers: int, num_heads: int,
                 mlp_ratio: float, qkv_bias: bool, patch_size: int,
                 stride_level: int, image_size: Union[int, Tuple[int, int]],
                 query_modality: Optional[str], drop_path_rate: float,
                 init_cfg: Optional[dict]) -> None:
        super().__init__(init_cfg=init_cfg)
        self.patch_size, self.grid = decoder_geometry(
            f'{type(self).__name__}({modality!r})', patch_size,
            stride_level, image_size)
        self.modality = modality
        self.query_modality = query_modality or modality
        self.out_channels = out_channels
        self.embed_dims = embed_dims
        self.stride_level = stride_level

        self.context_proj = nn.Linear(encoder_dims, embed_dims)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.pos_embed = nn.Parameter(
            build_2d_sincos_pos_embed(self.grid, embed_dims),
            requires_grad=False)
        self.blocks = build_vit_blocks(
            embed_dims,
            num_layers,
            num_heads,
            mlp_ratio,
            qkv_bias,
            drop_path_rate=drop_path_rate)
        self.head = nn.Linear(
            embed_dims, out_channels * self.patch_size[0] * self.patch_size[1])

    def _official_init(self) -> None:
        init_linear_and_norm_weights(self)
        nn.init.zeros_(self.mask_token)

    def init_weights(self) -> None:
        """Apply the official init, then ``init_cfg`` (if any)."""
        self._official_init()
        super().init_weights()


@MODELS.register_module()
class SpatialDecoder(PatchDecoderBase):
    """MultiMAE decoder: cross-attention from one modality's token grid to
    the visible tokens of all modalities.

    Steps (official ``SpatialOutputAdapter``):

    1. ``context_proj`` maps the encoder tokens to ``embed_dims``.
    2. Every visible token gets its modality's ``task_embeds`` entry plus
       the decoder's sin-cos ``pos_embed`` (resized bilinear to the
       modality's grid) added; the projected global tokens are appended
       as they are. This is the context.
    3. The queries are the full grid of ``query_modality``: its visible
       tokens where visible and ``mask_token`` elsewhere, plus its position
       and modality embedding (only ``mask_token`` + embeddings if
       ``use_task_queries`` is False or the modality is not an input).
    4. ``x = cross_attn(query_norm(q), context_norm(ctx))`` (no residual),
       ``x = x + mlp(out_norm(x))``, then ``num_layers`` timm ``Block`` s.
    5. ``head`` (no norm before it) projects each token to a
       ``(c ph pw)`` patch.

    Official code builds the full grid of every modality with mask tokens
    and gathers the visible ones back out of it; here only the query grid
    is built (same values).

    Args:
        modality (str): Name of the decoded output (e.g. ``'rgb'``,
            ``'norm_rgb'``).
        out_channels (int): Channels ``C`` of the output (classes for
            semseg).
        encoder_dims (int): Width of the encoder tokens.
        context_modalities (Sequence[str]): Input modalities that get a
            learned modality embedding (official ``context_tasks``);
            modalities not listed get none.
        embed_dims (int): Decoder width. Defaults to 256.
        num_layers (int): Self-attention blocks after the cross-attention.
            Defaults to 2.
        num_heads (int): Attention heads. Defaults to 8.
        mlp_ratio (float): MLP hidden width ratio. Defaults to 4.
        qkv_bias (bool): Biases of the q/kv/qkv projections. Defaults to
            True.
        patch_size (int): Patch size at full resolution. Defaults to 16.
        stride_level (int): Output resolution divisor; the output patch is
            ``patch_size // stride_level`` pixels (4 for the 1/4-resolution
            semseg logits). Defaults to 1.
        image_size (int | tuple[int, int]): Full-resolution size the
            position table is built for. Defaults to 224.
        use_task_queries (bool): Put the query modality's encoded tokens
            into the queries. Defaults to True.
        query_modality (str, optional): Modality whose grid, mask and
            embedding the queries use; defaults to ``modality`` (``'rgb'``
            for the ``norm_rgb`` decoder).
        drop_path_rate (float): Stochastic depth of the blocks, linearly
            increasing. Defaults to 0.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 modality: str,
                 out_channels: int,
                 encoder_dims: int,
                 context_modalities: Sequence[str],
                 embed_dims: int = 256,
                 num_layers: int = 2,
                 num_heads: int = 8,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 patch_size: int = 16,
                 stride_level: int = 1,
                 image_size: Union[int, Tuple[int, int]] = 224,
                 use_task_queries: bool = True,
                 query_modality: Optional[str] = None,
                 drop_path_rate: float = 0.,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(modality, out_channels, encoder_dims, embed_dims,
                         num_layers, num_heads, mlp_ratio, qkv_bias,
                         patch_size, stride_level, image_size,
                         query_modality, drop_path_rate, init_cfg)
        self.use_task_queries = use_task_queries
        self.task_embeds = nn.ParameterDict({
            name: nn.Parameter(torch.zeros(1, 1, embed_dims))
            for name in context_modalities
        })
        self.cross_attn = CrossAttention(
            embed_dims, num_heads, qkv_bias=qkv_bias)
        self.query_norm = norm_layer(embed_dims)
        self.context_norm = norm_layer(embed_dims)
        self.out_norm = norm_layer(embed_dims)
        self.mlp = RecomputedGeluMlp(embed_dims, int(embed_dims * mlp_ratio))
        self._official_init()

    def _official_init(self) -> None:
        """Official init: xavier linears (split for q/kv fused weights),
        LayerNorm 1/0, zero mask token, trunc-normal(0.02) embeddings."""
        super()._official_init()
        for embed in self.task_embeds.values():
            trunc_normal_(embed, std=0.02)

    def modality_embed(self, name: str, grid: Tuple[int, int]) -> Tensor:
        """Position (+ modality) embedding of one modality's tokens.

        Args:
            name (str): Modality.
            grid (tuple[int, int]): Its token grid ``(h, w)``.

        Returns:
            Tensor: ``(h * w, embed_dims)``.
        """
        pos = resize_pos_embed(self.pos_embed, grid, 'bilinear')
        pos = pos.flatten(2)[0].transpose(0, 1)
        if name in self.task_embeds:
            pos = pos + self.task_embeds[name][0]
        return pos

    def query_grid(self, layout: TokenLayout) -> Tuple[int, int]:
        """Output token grid: the query modality's grid if it is an input,
        else the grid shared by the inputs."""
        if self.query_modality in layout.grids:
            return layout.grids[self.query_modality]
        grids = set(layout.grids.values())
        if len(grids) != 1:
            raise ValueError(
                f'SpatialDecoder({self.modality!r}): query modality '
                f'{self.query_modality!r} is not an input and the inputs '
                f'have different grids {layout.grids}')
        return grids.pop()

    def forward(self, encoder_tokens: Tensor, layout: TokenLayout,
                ids_keep: Tensor, ids_restore: Tensor) -> Tensor:
        """Decode.

        Args:
            encoder_tokens (Tensor): Encoder output ``(B, n_vis + G, D)``:
                visible tokens in ``ids_keep`` order, then global tokens.
            layout (TokenLayout): Layout of the concatenated input tokens.
            ids_keep (Tensor): ``(B, n_vis)`` indices of the visible tokens.
            ids_restore (Tensor): ``(B, N_total)``, see ``masks_to_ids``.

        Returns:
            Tensor: Patch tokens ``(B, h * w, C * ph * pw)`` over the query
            modality's grid.
        """
        n_vis = _check_decoder_inputs(encoder_tokens, layout, ids_keep,
                                      ids_restore,
                                      type(self).__name__)
        x = self.context_proj(encoder_tokens)
        visible, global_tokens = x[:, :n_vis], x[:, n_vis:]

        # Embeddings stay float32 and promote the sums under autocast, as
        # official (its mask tokens and embeddings are float32 too).
        embeds = torch.cat([
            self.modality_embed(name, grid)
            for name, grid in layout.grids.items()
        ])  # (N_total, C)
        context = torch.cat(
            [visible + gather_tokens(embeds, ids_keep), global_tokens], dim=1)

        grid = self.query_grid(layout)
        query_embed = self.modality_embed(self.query_modality, grid)
        if self.use_task_queries and self.query_modality in layout.grids:
            queries = modality_grid_tokens(visible, self.mask_token,
                                           ids_restore,
                                           layout.slices[self.query_modality])
        else:
            queries = self.mask_token.expand(x.shape[0], grid[0] * grid[1], -1)
        queries = queries + query_embed

        x = self.cross_attn(
            self.query_norm(queries), self.context_norm(context))
        x = x + self.mlp(self.out_norm(x))
        for block in self.blocks:
            x = block(x)
        return self.head(x)
