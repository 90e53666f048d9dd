# Copyright (c) mmmultimae contributors. All rights reserved.
"""ConvNeXt decode head: MultiMAE's default semantic segmentation head."""
import math
from typing import Sequence

import torch
import torch.nn as nn
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from timm.models.convnext import ConvNeXtBlock
from torch import Tensor

from mmmultimae.registry import MODELS
from .utils import (CheckedInputsMixin, OfficialInitMixin,
                    init_official_head_weights)


def patch_tokens_to_map(x: Tensor, scale: int) -> Tensor:
    """Spread each token's ``scale**2`` predictions over its pixels.

    The channels of a token are read as ``(p c)`` (prediction-major, p =
    ``(ph pw)`` row-major), as official ``ConvNeXtAdapter`` does; unlike
    ``F.pixel_shuffle``, which reads ``(c p)``.

    Args:
        x (Tensor): Projected tokens ``(B, h, w, scale**2 * C)``.
        scale (int): Upsampling factor ``s``.

    Returns:
        Tensor: ``(B, C, h * s, w * s)``.
    """
    b, h, w, e = x.shape
    c = e // (scale * scale)
    x = x.reshape(b, h, w, scale, scale, c)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, c, h * scale, w * scale)


@MODELS.register_module()
class ConvNeXtHead(OfficialInitMixin, CheckedInputsMixin, BaseDecodeHead):
    """ConvNeXt decode head (MultiMAE's ``ConvNeXtAdapter``).

    One ViT feature map ``(B, in_channels, h, w)`` is projected per token by
    a Linear to ``channels * preds_per_patch`` (official ``embed_dim``, 6144
    in the paper), each token's vector is spread over ``s x s`` pixels
    (``s = sqrt(preds_per_patch)``, H/4 for 16x16 patches), refined by
    ``num_blocks`` ConvNeXt blocks (timm's ``ConvNeXtBlock``: depthwise 7x7,
    LayerNorm eps 1e-6, Linear 4x, GELU, Linear; no layer scale) and
    classified by a 1x1 conv (``conv_seg``). The logits stay at
    ``(h * s, w * s)``; mmseg resizes them to the label / image size
    (bilinear, ``align_corners``), as the official head does at its end.

    Args:
        in_channels (int): Width of the backbone map, ``D * k`` for ``k``
            concatenated modalities.
        channels (int): Width of the pixel features (official
            ``embed_dim // preds_per_patch``; 384 in the paper).
        preds_per_patch (int): Pixels predicted per token; a square number.
            Defaults to 16.
        num_blocks (int): Number of ConvNeXt blocks. Defaults to 4.
        drop_path_rate (float): Stochastic depth, linearly increasing over
            the blocks (official: 0). Defaults to 0.
        dropout_ratio (float): Dropout before ``conv_seg`` (official: none).
            Defaults to 0.
        init_cfg (dict | list[dict], optional): Applied after the official
            init (see :class:`OfficialInitMixin`). Defaults to None.
        **kwargs: Other ``BaseDecodeHead`` arguments (``num_classes``,
            ``in_index``, ``loss_decode``, ``ignore_index``,
            ``align_corners``...).
    """

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 preds_per_patch: int = 16,
                 num_blocks: int = 4,
                 drop_path_rate: float = 0.,
                 dropout_ratio: float = 0.,
                 init_cfg=None,
                 **kwargs) -> None:
        scale = math.isqrt(preds_per_patch) if preds_per_patch > 0 else 0
        if scale * scale != preds_per_patch or scale == 0:
            raise ValueError('preds_per_patch must be a positive square '
                             f'number (s x s pixels), got {preds_per_patch}')
        if kwargs.get('input_transform') is not None:
            raise ValueError('ConvNeXtHead reads one feature map: '
                             'input_transform must be None')
        super().__init__(
            in_channels,
            channels,
            dropout_ratio=dropout_ratio,
            init_cfg=init_cfg,
            **kwargs)
        self.preds_per_patch = preds_per_patch
        self.scale = scale
        self.dec_proj = nn.Linear(in_channels, channels * preds_per_patch)
        rates = torch.linspace(0, drop_path_rate, num_blocks).tolist()
        self.blocks = nn.Sequential(*[
            ConvNeXtBlock(channels, ls_init_value=None, drop_path=rate)
            for rate in rates
        ])
        # Usable with the official init even before ``init_weights``.
        init_official_head_weights(self)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Segmentation logits.

        Args:
            inputs (Sequence[Tensor]): Backbone maps ``(B, C, h, w)``.

        Returns:
            Tensor: ``(B, num_classes, h * s, w * s)``.
        """
        x = self._transform_inputs(inputs)
        x = self.dec_proj(x.permute(0, 2, 3, 1))
        x = patch_tokens_to_map(x, self.scale)
        x = self.blocks(x)
        return self.cls_seg(x)
