# Copyright (c) mmmultimae contributors. All rights reserved.
"""What MultiMAE's decoders share: geometry, projections, init."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..utils.blocks import build_vit_blocks, init_linear_and_norm_weights
from ..utils.pos_embed import build_2d_sincos_pos_embed, to_2tuple_int
from ..utils.token_layout import TokenLayout


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


def check_decoder_inputs(encoder_tokens: Tensor, layout: TokenLayout,
                         ids_keep: Tensor, ids_restore: Tensor,
                         name: str) -> int:
    """Check the shapes a decoder receives.

    Args:
        encoder_tokens (Tensor): ``(B, n_vis + G, D)``.
        layout (TokenLayout): Layout of the concatenated input tokens.
        ids_keep (Tensor): ``(B, n_vis)``.
        ids_restore (Tensor): ``(B, N_total)``.
        name (str): Decoder description for error messages.

    Returns:
        int: ``n_vis``, the number of visible tokens.
    """
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


class BaseDecoder(BaseModule):
    """Parts shared by the decoders: output geometry, ``context_proj``
    (encoder -> decoder width), ``mask_token``, the frozen sin-cos
    ``pos_embed`` (kept in the state dict, as official), ``num_layers``
    timm ``Block`` s and the linear ``head`` to ``(c ph pw)`` patches, and
    the official init (xavier linears with split q/k/v, LayerNorm 1/0,
    zero mask token). Subclasses add their own layers, ``query_grid`` and
    ``forward(encoder_tokens, layout, ids_keep, ids_restore)``.

    Every decoder takes the same construction arguments, so that a
    pre-training head can build any of them: ``modality`` (the output's
    name), ``query_modality`` (the input modality whose grid is decoded),
    ``encoder_dims`` and ``context_modalities`` (the encoder's input
    modalities; decoders without per-modality embeddings ignore them).

    Args: see :class:`SpatialDecoder` / :class:`MAEDecoder`.
    """

    def __init__(self, modality: str, out_channels: int, encoder_dims: int,
                 context_modalities: Sequence[str],
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
        self.context_modalities = list(context_modalities)

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

    def check_inputs(self, encoder_tokens: Tensor, layout: TokenLayout,
                     ids_keep: Tensor, ids_restore: Tensor) -> int:
        """:func:`check_decoder_inputs` with this decoder's name."""
        return check_decoder_inputs(encoder_tokens, layout, ids_keep,
                                    ids_restore,
                                    f'{type(self).__name__}'
                                    f'({self.modality!r})')
