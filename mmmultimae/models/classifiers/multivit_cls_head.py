# Copyright (c) mmmultimae contributors. All rights reserved.
"""The classification head of MultiMAE fine-tuning (official
``LinearOutputAdapter``) as an mmpretrain ``ClsHead``, and the conversion of
the official head's weights and arguments."""
import re
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmpretrain.models.heads import ClsHead
from timm.layers import trunc_normal_
from torch import Tensor, nn

from mmmultimae.registry import MODELS
from ..utils.blocks import init_linear_and_norm_weights

#: Token pooling of :class:`MultiViTClsHead`.
POOLING = ('mean', 'global_token')


def pool_tokens(tokens: Tensor, pool: str) -> Tensor:
    """Pool encoder tokens into one feature per image, as official.

    Args:
        tokens (Tensor): Encoder output ``(B, N + G, D)``, global tokens
            last (MultiViT layout).
        pool (str): ``'mean'``: the mean over **all** tokens, global tokens
            included (official ``use_mean_pooling=True``, unlike MAE's pool
            that leaves the cls token out); ``'global_token'``: the last
            token, i.e. the last global token (official
            ``encoder_tokens[:, -1]``).

    Returns:
        Tensor: ``(B, D)``.
    """
    if pool not in POOLING:
        raise ValueError(f'pool must be one of {POOLING}, got {pool!r}')
    if tokens.dim() != 3:
        raise ValueError('expected encoder tokens (B, N, D), got shape '
                         f'{tuple(tokens.shape)}')
    return tokens.mean(1) if pool == 'mean' else tokens[:, -1]


@MODELS.register_module()
class MultiViTClsHead(ClsHead):
    """Pool the encoder tokens, normalise, classify with one linear layer.

    The official MultiMAE classification head (``LinearOutputAdapter``:
    mean pooling over all tokens or the global token, LayerNorm eps 1e-6,
    ``Linear``), with mmpretrain's loss, ``predict`` (``pred_score`` /
    ``pred_label``) and ``pre_logits`` (the normalised pooled feature). A
    ``BatchNorm1d`` without affine parameters instead of the LayerNorm
    gives MAE's linear-probing head.

    Initialisation: the linear weight is trunc-normal(0.02) times
    ``init_scale``, its bias 0 (the official head's own init, as BEiT /
    MAE). The official ``MultiMAE.__init__`` then re-initialises every
    ``nn.Linear`` of the model with xavier-uniform (reference sections 0.15
    and 1.3), which overrides that; ``init_scale=None`` reproduces this
    effective official init. An ``init_cfg`` replaces the trunc-normal draw
    (e.g. MAE's probe: ``dict(type='TruncNormal', layer='Linear',
    std=0.01)``), ``init_scale`` still applies.

    Follows mmpretrain's ``VisionTransformerClsHead`` (``pre_logits`` then
    ``layers``), written for the MultiViT token layout.

    Args:
        num_classes (int): Number of classes ``K``.
        in_channels (int): Token width ``D``.
        pool (str): ``'mean'`` (official default) or ``'global_token'``,
            see :func:`pool_tokens`.
        norm_cfg (dict): Norm of the pooled feature (mmcv
            ``build_norm_layer``). Defaults to ``dict(type='LN',
            eps=1e-6)``.
        init_scale (float, optional): Scale of the initial linear weight
            and bias; ``None``: xavier-uniform (official effective init).
            Defaults to 0.001.
        loss (dict): mmpretrain loss config. Defaults to cross-entropy.
        topk (int | tuple[int]): Top-k accuracy in training logs (with
            ``cal_acc``).
        cal_acc (bool): Log the training accuracy (not with Mixup / CutMix,
            whose targets are soft). Defaults to False.
        init_cfg (dict, optional): Replaces the trunc-normal(0.02) init of
            the linear layer.

    Shapes:
        ``forward((tokens, ))``: tokens ``(B, N + G, D)`` -> logits
        ``(B, K)``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 pool: str = 'mean',
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 init_scale: Optional[float] = 0.001,
                 loss: dict = dict(
                     type='mmpretrain.CrossEntropyLoss', loss_weight=1.0),
                 topk: Tuple[int, ...] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        if pool not in POOLING:
            raise ValueError(f'pool must be one of {POOLING}, got {pool!r}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.pool = pool
        self.init_scale = init_scale
        self.norm = build_norm_layer(norm_cfg, in_channels)[1]
        self.fc = nn.Linear(in_channels, num_classes)

    def init_weights(self) -> None:
        """Linear: trunc-normal(0.02) (or ``init_cfg``) times
        ``init_scale``, bias 0; xavier-uniform if ``init_scale`` is None;
        norm weight 1, bias 0."""
        if self.init_scale is None:
            init_linear_and_norm_weights(self)
        else:
            if self.init_cfg:
                super().init_weights()
            else:
                trunc_normal_(self.fc.weight, std=0.02)
                nn.init.zeros_(self.fc.bias)
            with torch.no_grad():
                self.fc.weight.mul_(self.init_scale)
                self.fc.bias.mul_(self.init_scale)
        if getattr(self.norm, 'weight', None) is not None:
            nn.init.ones_(self.norm.weight)
            nn.init.zeros_(self.norm.bias)
        self._is_init = True

    def pre_logits(self, feats: Sequence[Tensor]) -> Tensor:
        """The normalised pooled feature ``(B, D)`` of the last entry of
        ``feats`` (encoder tokens ``(B, N + G, D)``)."""
        tokens = feats[-1]
        if tokens.dim() != 3 or tokens.shape[-1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__} expects encoder tokens (B, N, '
                f'{self.in_channels}), got shape {tuple(tokens.shape)}')
        return self.norm(pool_tokens(tokens, self.pool))

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Logits ``(B, K)``."""
        return self.fc(self.pre_logits(feats))


def convert_official_cls_head(state_dict: Dict[str, Tensor]
                              ) -> Dict[str, Tensor]:
    """Official ``LinearOutputAdapter`` weights -> :class:`MultiViTClsHead`.

    Args:
        state_dict (dict): Keys relative to the head (``norm.*``,
            ``head.*``; ``output_adapters.cls.`` stripped).

    Returns:
        dict: ``norm.*`` and ``fc.*`` (tensors shared with the input).

    Raises:
        ValueError: Unknown keys, or keys missing (all listed).
    """
    out, unknown = {}, []
    for key, value in state_dict.items():
        match = re.fullmatch(r'(norm|head)\.(weight|bias)', key)
        if match is None:
            unknown.append(key)
            continue
        out[f"{'fc' if match[1] == 'head' else 'norm'}.{match[2]}"] = value
    missing = sorted({'norm.weight', 'norm.bias', 'fc.weight', 'fc.bias'} -
                     set(out))
    if unknown or missing:
        raise ValueError(
            'Not an official LinearOutputAdapter state dict: unknown keys '
            f'{unknown}, missing {missing} (expected norm.weight, '
            'norm.bias, head.weight, head.bias)')
    return out


def convert_official_cls_head_cfg(kwargs: dict, dim_tokens_enc: int) -> dict:
    """Official ``LinearOutputAdapter`` arguments -> our head config.

    Args:
        kwargs (dict): ``num_classes``, optionally ``use_mean_pooling``
            (default True), ``init_scale`` (default 1.0), ``norm_layer``
            (LayerNorm eps 1e-6 only).
        dim_tokens_enc (int): The encoder width (``init(dim_tokens_enc)``).

    Returns:
        dict: A ``MODELS`` config of :class:`MultiViTClsHead`.

    Raises:
        ValueError: Missing ``num_classes`` or unsupported arguments.
    """
    kwargs = dict(kwargs)
    if 'num_classes' not in kwargs:
        raise ValueError('LinearOutputAdapter needs num_classes')
    norm = kwargs.pop('norm_layer', None)
    if norm is not None and 'eps=1e-06' not in str(norm):
        raise ValueError('Only LayerNorm(eps=1e-6) is supported, got '
                         f'norm_layer={norm}')
    dim = kwargs.pop('dim_tokens_enc', None)
    if dim is not None and dim != dim_tokens_enc:
        raise ValueError(f'dim_tokens_enc={dim} differs from the encoder '
                         f'width {dim_tokens_enc}')
    cfg = dict(
        type='MultiViTClsHead',
        num_classes=kwargs.pop('num_classes'),
        in_channels=dim_tokens_enc,
        pool='mean' if kwargs.pop('use_mean_pooling', True) else
        'global_token',
        init_scale=kwargs.pop('init_scale', 1.0))
    if kwargs:
        raise ValueError('Unsupported LinearOutputAdapter arguments '
                         f'{sorted(kwargs)}')
    return cfg
