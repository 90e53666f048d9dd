# Copyright (c) mmmultimae contributors. All rights reserved.
"""MultiViT: the multi-modal ViT encoder of MultiMAE."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from timm.layers import trunc_normal_
from torch import Tensor

from mmmultimae.registry import MODELS
from ..utils.blocks import (build_vit_blocks, init_linear_and_norm_weights,
                            norm_layer)
from ..utils.token_layout import TokenLayout
from .encoder_checkpoint import load_pretrained_encoder

ModalityInputs = Dict[str, Tensor]


def _normalize_indices(indices: Union[int, Sequence[int]], num_layers: int,
                       name: str) -> List[int]:
    """Validate block indices and make negative ones positive."""
    if isinstance(indices, int):
        indices = [indices]
    out = []
    for index in indices:
        valid = isinstance(index, int) and -num_layers <= index < num_layers
        if not valid:
            raise ValueError(f'Invalid {name} {index!r}: the encoder has '
                             f'{num_layers} blocks (valid indices are '
                             f'{-num_layers}..{num_layers - 1})')
        out.append(index % num_layers)
    if not out:
        raise ValueError(f'{name} must not be empty')
    return out


@MODELS.register_module()
class MultiViT(BaseModule):
    """Multi-modal Vision Transformer encoder (MultiMAE / MultiViT).

    Each modality is turned into tokens by its input adapter; the token
    sequences are concatenated in input-dict order, ``G`` learned global
    tokens are appended at the end (official MultiMAE layout, unlike a
    prepended cls token) and the sequence goes through pre-norm timm
    ``Block`` s (fused ``scaled_dot_product_attention``). There is no final
    norm by default, as official.

    ``forward`` follows the mmseg backbone contract: a tuple of
    ``(B, D * k, h, w)`` feature maps built from the tokens of
    ``out_modalities`` after each block of ``out_indices``. Pre-training
    uses :meth:`tokenize` and :meth:`encode` directly to encode only the
    visible tokens.

    The ``get_layer_depth`` design follows mmpretrain's ViT.

    Args:
        adapters (dict[str, dict]): Input adapter configs per modality,
            built through ``MODELS`` with ``embed_dims`` injected. A
            ``None`` entry is skipped (a config drops a modality of its base
            with ``adapters=dict(semseg=None)``).
        embed_dims (int): Token width ``D``. Defaults to 768.
        num_layers (int): Number of blocks ``L``. Defaults to 12.
        num_heads (int): Attention heads. Defaults to 12.
        mlp_ratio (float): MLP hidden width ratio. Defaults to 4.
        qkv_bias (bool): Bias of the qkv projection. Defaults to True.
        num_global_tokens (int): Number of global tokens ``G``.
            Defaults to 1.
        drop_rate (float): Dropout after the attention/MLP projections.
        attn_drop_rate (float): Attention-probability dropout.
        drop_path_rate (float): Stochastic depth, linearly increasing over
            the blocks.
        out_indices (int | Sequence[int]): Blocks whose outputs ``forward``
            returns (0-based, negative allowed). Defaults to -1.
        out_modalities (Sequence[str], optional): Modalities whose tokens
            form the feature maps of ``forward``; several are concatenated
            on channels (official heads' ``main_tasks``). Defaults to the
            first adapter's modality.
        final_norm (bool): Apply a LayerNorm after the last block (not
            official). Defaults to False.
        init_cfg (dict, optional): mmengine init config, e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='encoder.')``.
    """

    def __init__(self,
                 adapters: Dict[str, Union[dict, nn.Module]],
                 embed_dims: int = 768,
                 num_layers: int = 12,
                 num_heads: int = 12,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 num_global_tokens: int = 1,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 out_indices: Union[int, Sequence[int]] = -1,
                 out_modalities: Optional[Sequence[str]] = None,
                 final_norm: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not adapters:
            raise ValueError('MultiViT needs at least one input adapter')
        if num_global_tokens < 0:
            raise ValueError('num_global_tokens must be >= 0, got '
                             f'{num_global_tokens}')
        self.embed_dims = embed_dims
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.num_global_tokens = num_global_tokens

        self.adapters = nn.ModuleDict()
        for name, cfg in adapters.items():
            if cfg is not None:
                self.adapters[name] = self._build_adapter(
                    name, cfg, embed_dims)
        if not self.adapters:
            raise ValueError('MultiViT needs at least one input adapter')
        self.out_indices = _normalize_indices(out_indices, num_layers,
                                              'out_indices')
        if out_modalities is None:
            out_modalities = [next(iter(self.adapters))]
        elif isinstance(out_modalities, str):
            out_modalities = [out_modalities]
        unknown = [m for m in out_modalities if m not in self.adapters]
        if unknown or not out_modalities:
            raise ValueError(f'out_modalities {list(out_modalities)} must be '
                             'a non-empty subset of the adapters '
                             f'{list(self.adapters)}')
        self.out_modalities = list(out_modalities)

        self.global_tokens = nn.Parameter(
            torch.zeros(1, num_global_tokens, embed_dims))
        self.blocks = build_vit_blocks(embed_dims, num_layers, num_heads,
                                       mlp_ratio, qkv_bias, drop_rate,
                                       attn_drop_rate, drop_path_rate)
        self.final_norm = final_norm
        if final_norm:
            self.norm = norm_layer(embed_dims)
        # Start from the official initialisation even before
        # ``init_weights`` is called, so a freshly built encoder is usable.
        self._official_init()

    @staticmethod
    def _build_adapter(name: str, cfg: Union[dict, nn.Module],
                       embed_dims: int) -> nn.Module:
        if isinstance(cfg, nn.Module):
            adapter = cfg
        else:
            cfg = dict(cfg)
            if cfg.setdefault('embed_dims', embed_dims) != embed_dims:
                raise ValueError(
                    f'Adapter {name!r} has embed_dims={cfg["embed_dims"]} '
                    f'but the encoder has embed_dims={embed_dims}')
            adapter = MODELS.build(cfg)
        if getattr(adapter, 'embed_dims', embed_dims) != embed_dims:
            raise ValueError(f'Adapter {name!r} has embed_dims='
                             f'{adapter.embed_dims}, encoder {embed_dims}')
        return adapter

    @property
    def modalities(self) -> List[str]:
        """Modalities with an input adapter, in config order."""
        return list(self.adapters)

    def _official_init(self) -> None:
        """Official MultiMAE init (reference section 1.3).

        Linear: xavier-uniform, bias 0; qkv: xavier-uniform of each of Q, K
        and V on its own; LayerNorm: 1 / 0; adapters: their own init (conv
        patch projections xavier on the flattened weight); global tokens:
        trunc-normal(0.02).
        """
        init_linear_and_norm_weights(self)
        for adapter in self.adapters.values():
            adapter.official_init()
        trunc_normal_(self.global_tokens, std=0.02)

    def init_weights(self) -> None:
        """Apply the official init, then ``init_cfg``.

        ``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` loads any
        supported source (our MultiMAE / segmentor / classifier
        checkpoints, official MultiMAE, MAE and timm ViTs; ``prefix=``
        selects the keys under a prefix first, as mmengine's) with the
        official fine-tuning steps and prints a key report, see
        :func:`~mmmultimae.models.backbones.encoder_checkpoint.
        load_pretrained_encoder`; other ``init_cfg`` types go to mmengine.
        """
        self._official_init()
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            unknown = sorted(set(cfg) - {'type', 'checkpoint', 'prefix'})
            if unknown:
                raise ValueError(
                    f'MultiViT init_cfg Pretrained takes checkpoint= and '
                    f'optionally prefix=, got {unknown} (the source format '
                    'is detected from the file)')
            load_pretrained_encoder(self, cfg['checkpoint'],
                                    cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()

    def tokenize(self, inputs: ModalityInputs) -> Tuple[Tensor, TokenLayout]:
        """Apply the input adapters and concatenate their tokens.

        Args:
            inputs (dict[str, Tensor]): Non-empty dict of modality inputs,
                e.g. ``rgb`` ``(B, 3, H, W)``, ``semseg`` ``(B, h4, w4)``.

        Returns:
            tuple[Tensor, TokenLayout]: Tokens ``(B, N_total, D)`` in
            input-dict order (no global tokens) and their layout.
        """
        layout = self.token_layout(inputs)
        tokens = [self.adapters[name](x) for name, x in inputs.items()]
        return torch.cat(tokens, dim=1), layout

    def token_layout(self, inputs: ModalityInputs) -> TokenLayout:
        """The layout of the tokens of ``inputs`` (without computing them).

        Args:
            inputs (dict[str, Tensor]): Non-empty dict of modality inputs.

        Returns:
            TokenLayout: Grids in input-dict order and the global tokens.
        """
        if not inputs:
            raise ValueError('MultiViT got no modality')
        unknown = [name for name in inputs if name not in self.adapters]
        if unknown:
            raise KeyError(f'No input adapter for modalities {unknown}; '
                           f'known modalities: {self.modalities}')
        batch_sizes = {n: int(x.shape[0]) for n, x in inputs.items()}
        if len(set(batch_sizes.values())) != 1:
            raise ValueError('All modalities must have the same batch '
                             f'size, got {batch_sizes}')
        grids = {
            name: self.adapters[name].token_grid(x)
            for name, x in inputs.items()
        }
        return TokenLayout(grids, self.num_global_tokens)

    def image_size(self, inputs: ModalityInputs) -> Tuple[int, int]:
        """Full-resolution ``(H, W)`` that ``inputs`` cover (a modality at
        ``stride_level`` s is ``(H / s, W / s)``).

        Raises:
            ValueError: If the modalities disagree.
        """
        sizes = {}
        for name, x in inputs.items():
            if name not in self.adapters:
                raise KeyError(f'No input adapter for modality {name!r}; '
                               f'known modalities: {self.modalities}')
            s = self.adapters[name].stride_level
            sizes[name] = (int(x.shape[-2]) * s, int(x.shape[-1]) * s)
        if len(set(sizes.values())) != 1:
            raise ValueError(f'modalities do not cover one image: {sizes} '
                             '(full-resolution sizes)')
        return next(iter(sizes.values()))

    @property
    def table_image_size(self) -> Tuple[int, int]:
        """Full-resolution ``(H, W)`` the first adapter's position table
        was built for (the training size); inputs of other sizes use
        resized tables."""
        return tuple(next(iter(self.adapters.values())).image_size)

    def stride_level(self, name: str) -> int:
        """Downsampling of modality ``name``'s input w.r.t. full
        resolution (4 for 1/4-resolution label maps)."""
        return self.adapters[name].stride_level

    def pos_tokens(self, layout: TokenLayout) -> Tensor:
        """Position tokens of every modality of ``layout``, concatenated.

        Returns:
            Tensor: ``(1, N_total, D)``, the adapters' tables resized to
            their modality's grid.
        """
        return torch.cat([
            self.adapters[name].pos_tokens(grid)
            for name, grid in layout.grids.items()
        ],
                         dim=1)

    def encode(
        self,
        tokens: Tensor,
        return_layers: Optional[Sequence[int]] = None
    ) -> Union[Tensor, List[Tensor]]:
        """Append the global tokens and run the blocks.

        Args:
            tokens (Tensor): Modality tokens ``(B, n, D)`` (all of them, or
                only the visible ones in pre-training).
            return_layers (Sequence[int], optional): Blocks (0-based,
                negative allowed) whose outputs to return.

        Returns:
            Tensor | list[Tensor]: The last block's output ``(B, n + G, D)``
            (global tokens last), or the outputs of ``return_layers`` in the
            requested order.
        """
        batch = tokens.shape[0]
        x = torch.cat(
            [tokens, self.global_tokens.expand(batch, -1, -1)], dim=1)
        last = self.num_layers - 1
        if return_layers is None:
            wanted = {}
            stop = last
        else:
            indices = _normalize_indices(
                list(return_layers), self.num_layers, 'return_layers')
            wanted = dict.fromkeys(indices)
            stop = max(indices)
        for i, block in enumerate(self.blocks[:stop + 1]):
            x = block(x)
            if i == last and self.final_norm:
                x = self.norm(x)
            if i in wanted:
                wanted[i] = x
        if return_layers is None:
            return x
        return [wanted[i] for i in indices]

    def forward_tokens(
        self,
        inputs: ModalityInputs,
        return_layers: Optional[Sequence[int]] = None
    ) -> Tuple[Union[Tensor, List[Tensor]], TokenLayout]:
        """Tokenize all inputs and encode them (no masking).

        Args:
            inputs (dict[str, Tensor]): Modality inputs.
            return_layers (Sequence[int], optional): See :meth:`encode`.

        Returns:
            tuple: ``encode``'s output and the :class:`TokenLayout`.
        """
        tokens, layout = self.tokenize(inputs)
        return self.encode(tokens, return_layers), layout

    def forward(self, inputs: ModalityInputs) -> Tuple[Tensor, ...]:
        """Feature maps for dense heads (mmseg backbone contract).

        Args:
            inputs (dict[str, Tensor]): Modality inputs; must contain every
                modality of ``out_modalities``.

        Returns:
            tuple[Tensor]: One ``(B, D * k, h, w)`` map per ``out_indices``
            entry, ``k = len(out_modalities)``; global tokens dropped.
        """
        missing = [m for m in self.out_modalities if m not in inputs]
        if missing:
            raise KeyError(f'out_modalities {missing} are missing from the '
                           f'inputs {list(inputs)}')
        layers, layout = self.forward_tokens(inputs, self.out_indices)
        grids = {m: layout.grids[m] for m in self.out_modalities}
        if len(set(grids.values())) != 1:
            raise ValueError('out_modalities concatenated on channels must '
                             f'share one token grid, got {grids}')
        h, w = grids[self.out_modalities[0]]
        outs = []
        for x in layers:
            feats = torch.cat(
                [x[:, layout.slices[m]] for m in self.out_modalities], dim=2)
            feats = feats.transpose(1, 2).reshape(x.shape[0], -1, h, w)
            outs.append(feats.contiguous())
        return tuple(outs)

    def get_layer_depth(self,
                        param_name: str,
                        prefix: str = '') -> Tuple[int, int]:
        """Layer depth of a parameter, for layer-wise lr decay.

        Adapters and global tokens are layer 0, ``blocks.i`` is ``i + 1``,
        anything else (final norm, parameters outside ``prefix`` such as
        heads) is ``L + 1``. Mirrors mmpretrain's ViT ``get_layer_depth``.

        Args:
            param_name (str): Parameter name, e.g.
                ``'backbone.blocks.3.attn.qkv.weight'``.
            prefix (str): Prefix of the encoder's parameters in the model,
                e.g. ``'backbone.'``.

        Returns:
            tuple[int, int]: ``(layer_depth, num_layer_depths)`` with
            ``num_layer_depths = L + 2``.
        """
        num_depths = self.num_layers + 2
        if not param_name.startswith(prefix):
            return num_depths - 1, num_depths
        name = param_name[len(prefix):]
        if name == 'global_tokens' or name.startswith('adapters.'):
            depth = 0
        elif name.startswith('blocks.'):
            depth = int(name.split('.')[1]) + 1
        else:
            depth = num_depths - 1
        return depth, num_depths
