# Copyright (c) mmmultimae contributors. All rights reserved.
"""Transformer pieces that timm does not provide.

Self-attention blocks come from timm (``timm.models.vision_transformer.Block``
has the official parameter names). timm has no cross-attention with separate
``q`` / ``kv`` projections, which MultiMAE's decoders (and their checkpoints)
use, so :class:`CrossAttention` is written here; nor an MLP that recomputes
its activation in the backward pass instead of keeping it
(:class:`RecomputedGeluMlp`).
"""
import math
from functools import partial
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from timm.layers import Mlp
from timm.models.vision_transformer import Block
from torch import Tensor, nn
from torch.utils.flop_counter import register_flop_formula

from .autocast import active_autocast_dtype


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


# A custom op rather than an autograd.Function: torch.compile's partitioner
# sees through an autograd.Function and, since gelu(h) is an input of the
# weight-gradient matmul, saves it again; an opaque op keeps exactly what
# ``_setup_gelu_linear`` saves, compiled or not.
@torch.library.custom_op('mmmultimae::gelu_linear', mutates_args=())
def _gelu_linear_op(h: Tensor, weight: Tensor,
                    bias: Optional[Tensor]) -> Tensor:
    return F.linear(F.gelu(h), weight, bias)


@_gelu_linear_op.register_fake
def _gelu_linear_fake(h: Tensor, weight: Tensor,
                      bias: Optional[Tensor]) -> Tensor:
    return h.new_empty(*h.shape[:-1], weight.shape[0])


def _setup_gelu_linear(ctx, inputs: Tuple[Tensor, Tensor, Optional[Tensor]],
                       output: Tensor) -> None:
    h, weight, bias = inputs
    ctx.save_for_backward(h, weight)
    ctx.has_bias = bias is not None


def _gelu_linear_backward(
    ctx, grad_out: Tensor
) -> Tuple[Optional[Tensor], Optional[Tensor], Optional[Tensor]]:
    h, weight = ctx.saved_tensors
    grad_h = grad_weight = grad_bias = None
    if ctx.needs_input_grad[0]:
        grad_h = torch.ops.aten.gelu_backward(grad_out @ weight, h)
    flat_grad = grad_out.reshape(-1, grad_out.shape[-1])
    if ctx.needs_input_grad[1]:
        # gelu(h) recomputed: one element-wise pass instead of keeping it
        grad_weight = flat_grad.t() @ F.gelu(h).reshape(-1, h.shape[-1])
    if ctx.has_bias and ctx.needs_input_grad[2]:
        grad_bias = flat_grad.sum(dim=0)
    return grad_h, grad_weight, grad_bias


_gelu_linear_op.register_autograd(
    _gelu_linear_backward, setup_context=_setup_gelu_linear)


@register_flop_formula(torch.ops.mmmultimae.gelu_linear)
def _gelu_linear_flops(h_shape: Tuple[int, ...],
                       weight_shape: Tuple[int, ...], *args, **kwargs) -> int:
    """FLOPs of the matmul, for ``FlopCounterMode`` (the op is opaque to
    it); the backward's matmuls are ordinary ops and counted anyway."""
    return 2 * math.prod(h_shape) * weight_shape[0]


def gelu_linear(h: Tensor, weight: Tensor,
                bias: Optional[Tensor] = None) -> Tensor:
    """``F.linear(F.gelu(h), weight, bias)`` that saves only ``h`` for the
    backward pass (not also ``gelu(h)``); same values and gradients.

    Under autocast the operands are cast to the autocast dtype first, as
    ``F.linear`` would be.

    Args:
        h (Tensor): Pre-activations ``(..., C_hidden)``.
        weight (Tensor): ``(C_out, C_hidden)``.
        bias (Tensor, optional): ``(C_out,)``.

    Returns:
        Tensor: ``(..., C_out)``.
    """
    device_type = h.device.type
    dtype = active_autocast_dtype(device_type)
    if dtype is not None:
        h, weight = h.to(dtype), weight.to(dtype)
        bias = None if bias is None else bias.to(dtype)
    with torch.autocast(device_type, enabled=False):
        return _gelu_linear_op(h, weight, bias)


class RecomputedGeluMlp(Mlp):
    """timm ``Mlp`` (``fc1`` -> GELU -> ``fc2``, same parameters and values)
    whose GELU output is recomputed in the backward pass instead of kept.

    In a ViT block the MLP keeps two ``(B, N, 4C)`` tensors for backward,
    its hidden pre-activations and their GELU; this keeps the first only,
    about a fifth of a block's saved activations, for one extra element-wise
    pass in the backward. Without autograd (inference) or with dropout
    after the activation it runs as the plain ``Mlp``. Drop-in
    ``mlp_layer`` of ``timm``'s ``Block``.

    Args: as timm's ``Mlp`` (``act_layer`` must be ``nn.GELU`` with exact
        ``erf``, ``norm_layer`` None, no convolution).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if type(self.act) is not nn.GELU or self.act.approximate != 'none':
            raise ValueError('RecomputedGeluMlp needs act_layer=nn.GELU '
                             f'(exact), got {self.act!r}')
        if not isinstance(self.norm, nn.Identity) or not isinstance(
                self.fc1, nn.Linear):
            raise ValueError('RecomputedGeluMlp supports neither norm_layer '
                             'nor use_conv')

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C_in)`` -> ``(B, N, C_out)``."""
        if not torch.is_grad_enabled() or (self.training
                                           and self.drop1.p > 0):
            return super().forward(x)
        h = self.fc1(x)
        return self.drop2(gelu_linear(h, self.fc2.weight, self.fc2.bias))


#: LayerNorm of every MultiMAE transformer part (official eps).
norm_layer = partial(nn.LayerNorm, eps=1e-6)


def build_vit_blocks(embed_dims: int,
                     num_layers: int,
                     num_heads: int,
                     mlp_ratio: float = 4.,
                     qkv_bias: bool = True,
                     drop_rate: float = 0.,
                     attn_drop_rate: float = 0.,
                     drop_path_rate: float = 0.) -> nn.ModuleList:
    """The self-attention blocks of the encoder and the decoders.

    timm ``Block`` s (official parameter names) with :data:`norm_layer`,
    :class:`RecomputedGeluMlp` and stochastic depth rising linearly from 0
    to ``drop_path_rate`` over the blocks.

    Args:
        embed_dims (int): Token width ``C``.
        num_layers (int): Number of blocks.
        num_heads (int): Attention heads.
        mlp_ratio (float): MLP hidden width ratio. Defaults to 4.
        qkv_bias (bool): Bias of the qkv projection. Defaults to True.
        drop_rate (float): Dropout after the projections. Defaults to 0.
        attn_drop_rate (float): Dropout on the attention weights.
            Defaults to 0.
        drop_path_rate (float): Stochastic depth of the last block.
            Defaults to 0.

    Returns:
        nn.ModuleList: ``num_layers`` blocks mapping ``(B, N, C)`` to
        ``(B, N, C)``.
    """
    # linspace in Python: also works when built on the meta device
    dpr = [
        drop_path_rate * i / max(num_layers - 1, 1) for i in range(num_layers)
    ]
    return nn.ModuleList([
        Block(
            embed_dims,
            num_heads,
            mlp_ratio,
            qkv_bias=qkv_bias,
            proj_drop=drop_rate,
            attn_drop=attn_drop_rate,
            drop_path=rate,
            norm_layer=norm_layer,
            mlp_layer=RecomputedGeluMlp) for rate in dpr
    ])


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
