# Copyright (c) mmmultimae contributors. All rights reserved.
"""MAE-style self-attention decoder (baselines of the paper's Tables 10/11).

The design follows MAE's decoder (He et al.; mmpretrain's
``MAEPretrainDecoder``): mask tokens fill the masked positions of one
modality's grid, a fixed sin-cos table is added, and self-attention blocks,
a final norm and a linear head predict the patches. MAE-D8 is 512-d x 8
blocks x 16 heads, MAE-D2 256-d x 2 blocks.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from mmmultimae.registry import MODELS
from ..utils.blocks import norm_layer
from ..utils.pos_embed import pos_embed_tokens
from ..utils.token_layout import TokenLayout
from ..utils.tokens import modality_grid_tokens
from .base_decoder import BaseDecoder


@MODELS.register_module()
class MAEDecoder(BaseDecoder):
    """Self-attention decoder over one modality's full token grid.

    ``context_proj`` maps the encoder tokens to ``embed_dims``; the query
    modality's grid is filled with its visible tokens and ``mask_token``
    elsewhere, the sin-cos ``pos_embed`` (resized bilinear) is added, the
    projected global tokens are appended (without position, like MAE's class
    token whose position is zero), then ``num_layers`` timm ``Block`` s,
    ``norm`` and ``head`` give ``(c ph pw)`` patches. Visible tokens of
    other modalities are not used.

    Args:
        modality (str): Name of the decoded output.
        out_channels (int): Output channels ``C``.
        encoder_dims (int): Width of the encoder tokens.
        context_modalities (Sequence[str]): The encoder's input modalities;
            unused (an MAE decoder has no modality embeddings and reads
            only ``query_modality``'s tokens). Defaults to ().
        embed_dims (int): Decoder width. Defaults to 512.
        num_layers (int): Number of blocks. Defaults to 8.
        num_heads (int): Attention heads. Defaults to 16.
        mlp_ratio (float): MLP hidden width ratio. Defaults to 4.
        qkv_bias (bool): Bias of the qkv projection. Defaults to True.
        patch_size (int): Patch size at full resolution. Defaults to 16.
        stride_level (int): Output resolution divisor. Defaults to 1.
        image_size (int | tuple[int, int]): Full-resolution size the
            position table is built for. Defaults to 224.
        query_modality (str, optional): Input modality whose grid and mask
            are decoded; defaults to ``modality``.
        drop_path_rate (float): Stochastic depth. Defaults to 0.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 modality: str,
                 out_channels: int,
                 encoder_dims: int,
                 context_modalities: Sequence[str] = (),
                 embed_dims: int = 512,
                 num_layers: int = 8,
                 num_heads: int = 16,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 patch_size: int = 16,
                 stride_level: int = 1,
                 image_size: Union[int, Tuple[int, int]] = 224,
                 query_modality: Optional[str] = None,
                 drop_path_rate: float = 0.,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(modality, out_channels, encoder_dims,
                         context_modalities, embed_dims, num_layers,
                         num_heads, mlp_ratio, qkv_bias, patch_size,
                         stride_level, image_size, query_modality,
                         drop_path_rate, init_cfg)
        self.norm = norm_layer(embed_dims)
        self._official_init()

    def query_grid(self, layout: TokenLayout) -> Tuple[int, int]:
        """Output token grid: the grid of ``query_modality``."""
        if self.query_modality not in layout.grids:
            raise KeyError(f'MAEDecoder({self.modality!r}) decodes the input '
                           f'modality {self.query_modality!r}, which is not '
                           f'among the inputs {layout.modalities}')
        return layout.grids[self.query_modality]

    def forward(self, encoder_tokens: Tensor, layout: TokenLayout,
                ids_keep: Tensor, ids_restore: Tensor) -> Tensor:
        """Decode.

        Args:
            encoder_tokens (Tensor): Encoder output ``(B, n_vis + G, D)``.
            layout (TokenLayout): Layout of the concatenated input tokens;
                must contain ``query_modality``.
            ids_keep (Tensor): ``(B, n_vis)`` indices of the visible tokens.
            ids_restore (Tensor): ``(B, N_total)``, see ``masks_to_ids``.

        Returns:
            Tensor: Patch tokens ``(B, h * w, C * ph * pw)``.
        """
        n_vis = self.check_inputs(encoder_tokens, layout, ids_keep,
                                  ids_restore)
        grid = self.query_grid(layout)
        x = self.context_proj(encoder_tokens)
        tokens = modality_grid_tokens(x[:, :n_vis], self.mask_token,
                                      ids_restore,
                                      layout.slices[self.query_modality])
        tokens = tokens + pos_embed_tokens(self.pos_embed, grid, 'bilinear')
        x = torch.cat([tokens, x[:, n_vis:]], dim=1)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return self.head(x[:, :tokens.shape[1]])
