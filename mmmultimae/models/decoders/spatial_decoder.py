# Copyright (c) mmmultimae contributors. All rights reserved.
"""MultiMAE's cross-attention decoder for spatial outputs."""
from typing import Optional, Sequence, Tuple, Union

import torch
from timm.layers import trunc_normal_
from torch import Tensor, nn

from mmmultimae.registry import MODELS
from ..utils.blocks import CrossAttention, RecomputedGeluMlp, norm_layer
from ..utils.pos_embed import pos_embed_tokens
from ..utils.token_layout import TokenLayout
from ..utils.tokens import gather_tokens, modality_grid_tokens
from .base_decoder import BaseDecoder


@MODELS.register_module()
class SpatialDecoder(BaseDecoder):
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
        super().__init__(modality, out_channels, encoder_dims,
                         context_modalities, embed_dims, num_layers,
                         num_heads, mlp_ratio, qkv_bias, patch_size,
                         stride_level, image_size, query_modality,
                         drop_path_rate, init_cfg)
        self.use_task_queries = use_task_queries
        self.task_embeds = nn.ParameterDict({
            name: nn.Parameter(torch.zeros(1, 1, embed_dims))
            for name in self.context_modalities
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
        pos = pos_embed_tokens(self.pos_embed, grid, 'bilinear')[0]
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
        n_vis = self.check_inputs(encoder_tokens, layout, ids_keep,
                                  ids_restore)
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
