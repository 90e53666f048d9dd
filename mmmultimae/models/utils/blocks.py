# Copyright (c) mmmultimae contributors. All rights reserved.
"""Transformer pieces that timm does not provide.

Self-attention blocks come from timm (``timm.models.vision_transformer.Block``
has the official parameter names). timm has no cross-attention with separate
``q`` / ``kv`` projections, which MultiMAE's decoders (and their checkpoints)
use, so :class:`CrossAttention` is written here.
"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CrossAttention(nn.Module):
    """Multi-head cross-attention of queries to a context sequence.

    Parameter names (``q``, ``kv``, ``proj``) follow official MultiMAE so
    converted decoder weights load unchanged. Attention runs through
    :func:`torch.nn.functional.scaled_dot_product_attention`.

    Args:
        dim (int): Token width, for queries and context.
        num_heads (int): Number of heads; must divide ``dim``.
        qkv_bias (bool): Whether ``q`` and ``kv`` have biases. The output
            projection always has one. Defaults to True.
        attn_drop (float): Dropout on the attention weights (training only).
            Defaults to 0.
        proj_drop (float): Dropout after the output projection. Defaults to
            0.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f'dim ({dim}) must be divisible by num_heads '
                             f'({num_heads})')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        """Attend from ``x`` to ``context``.

        Args:
            x (Tensor): Queries of shape ``(B, N, C)``.
            context (Tensor): Context of shape ``(B, M, C)``.

        Returns:
            Tensor: Shape ``(B, N, C)``.
        """
        b, n, c = x.shape
        m = context.shape[1]
        q = self.q(x).reshape(b, n, self.num_heads, self.head_dim)
        kv = self.kv(context).reshape(b, m, 2, self.num_heads, self.head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k,
            v,
            dropout_p=self.attn_drop if self.training else 0.)
        x = x.transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(x))


def split_xavier_uniform_(weight: Tensor, num_splits: int) -> Tensor:
    """Xavier-uniform init of a fused projection, treating each of its
    ``num_splits`` output blocks as its own layer (official MultiMAE init of
    ``qkv`` with 3 splits and ``kv`` with 2).

    Args:
        weight (Tensor): Weight of shape ``(num_splits * out, in)``.
        num_splits (int): Number of fused projections.

    Returns:
        Tensor: ``weight``, initialised in place.
    """
    bound = math.sqrt(6. / (weight.shape[0] / num_splits + weight.shape[1]))
    with torch.no_grad():
        return weight.uniform_(-bound, bound)


def init_linear_and_norm_weights(module: nn.Module) -> None:
    """Official MultiMAE initialisation of linear and LayerNorm layers.

    Every ``nn.Linear`` gets xavier-uniform weights and zero bias, every
    ``nn.LayerNorm`` weight 1 and bias 0; then linears whose name contains
    ``qkv`` (or else ``kv``) get :func:`split_xavier_uniform_` with 3 (or 2)
    splits.

    Args:
        module (nn.Module): Module initialised in place.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            if m.weight is not None:
                nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    for name, m in module.named_modules():
        if not isinstance(m, nn.Linear):
            continue
        if 'qkv' in name:
            split_xavier_uniform_(m.weight, 3)
        elif 'kv' in name:
            split_xavier_uniform_(m.weight, 2)
