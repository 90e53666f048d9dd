# Copyright (c) mmmultimae contributors. All rights reserved.
"""DPT decode heads of MultiMAE (``DPTOutputAdapter``): semseg and
regression heads on one shared body.

Built from mmseg's DPT pieces where they compute the same thing:
``ReassembleBlocks`` (1x1 conv, then ConvTranspose 4x4/s4, 2x2/s2, identity,
conv 3x3/s2; readout 'ignore') and ``FeatureFusionBlock`` (``x + rcu1(skip)``,
``rcu2``, bilinear x2 with align_corners=True, 1x1 conv). Where they differ:

* mmseg's ``PreActResidualConvUnit`` convs never have a bias; the official
  ones have one unless there is a BatchNorm, hence :class:`ResidualConvUnit`.
* mmseg's ``DPTHead`` ends with a 3x3 ConvModule (bias, norm) and its
  ``cls_seg``; the official heads are different (see the two classes).
* mmseg's fusion block resizes a skip of another size to the path; when the
  token grid has an odd side, the deepest path (from the stride-2 conv) is
  one row / column larger than the next map: it is cropped (bottom / right)
  here instead, so that every later map keeps its size. Even grids (all
  official settings) are unaffected.
"""
import warnings
from functools import partial
from typing import List, Sequence, Union

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.decode_heads.dpt_head import (FeatureFusionBlock,
                                                ReassembleBlocks)
from mmseg.models.utils import resize
from torch import Tensor

from mmmultimae.registry import MODELS
from .utils import (CheckedInputsMixin, OfficialInitMixin,
                    init_official_head_weights, regression_losses,
                    stack_regression_targets)

NUM_LEVELS = 4


class ResidualConvUnit(BaseModule):
    """Pre-activation residual unit: ``x + conv2(act(conv1(act(x))))``,
    each conv followed by a norm if ``norm_cfg`` is given.

    mmseg's ``PreActResidualConvUnit`` with a conv bias when there is no
    norm (official ``bias=not use_bn``) and a non-inplace activation.

    Args:
        channels (int): Input and output channels.
        act_cfg (dict): Activation config.
        norm_cfg (dict, optional): Norm config (official ``use_bn``: BN).
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 channels: int,
                 act_cfg: dict,
                 norm_cfg: dict = None,
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg)
        conv = partial(
            ConvModule,
            channels,
            channels,
            3,
            padding=1,
            bias=norm_cfg is None,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            inplace=False,
            order=('act', 'conv', 'norm'))
        self.conv1 = conv()
        self.conv2 = conv()

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(self.conv1(x))


class FusionBlock(FeatureFusionBlock):
    """mmseg's ``FeatureFusionBlock`` with :class:`ResidualConvUnit` s.

    Args:
        channels (int): Feature channels.
        act_cfg (dict): Activation config of the residual units.
        norm_cfg (dict, optional): Norm config of the residual units.
        with_skip (bool): Whether the block fuses a skip map (all but the
            deepest block). Defaults to True.
    """

    def __init__(self,
                 channels: int,
                 act_cfg: dict,
                 norm_cfg: dict = None,
                 with_skip: bool = True) -> None:
        super().__init__(channels, act_cfg, norm_cfg, align_corners=True)
        unit = partial(ResidualConvUnit, channels, act_cfg, norm_cfg)
        self.res_conv_unit1 = unit() if with_skip else None
        self.res_conv_unit2 = unit()


class DPTBaseHead(OfficialInitMixin, CheckedInputsMixin, BaseDecodeHead):
    """Body shared by the DPT heads: reassemble, ``layer_rn`` convs and the
    four fusion blocks, giving ``(B, channels, 2h, 2w)`` from four ViT maps
    ``(B, in_channels, h, w)`` (readout 'ignore': the backbone has dropped
    the global tokens already).

    Args:
        in_channels (int | Sequence[int]): Width of the backbone maps,
            ``D * k`` (the same for all four).
        channels (int): Fusion width (official ``feature_dim``, 256).
        post_process_channels (Sequence[int]): Reassembled widths of the
            four levels (official ``layer_dims``). Defaults to
            ``(96, 192, 384, 768)``.
        in_index (Sequence[int]): The four backbone maps, shallow to deep
            (official ``hooks`` are the backbone's ``out_indices``).
            Defaults to ``(0, 1, 2, 3)``.
        input_transform (str): Must be 'multiple_select' (the default).
        norm_cfg (dict, optional): Norm of the residual units and of the
            semseg head (official ``use_bn=True``: BN). Defaults to None.
        init_cfg (dict | list[dict], optional): Applied after the official
            init. Defaults to None.
        **kwargs: Other ``BaseDecodeHead`` arguments.
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 channels: int,
                 post_process_channels: Sequence[int] = (96, 192, 384, 768),
                 in_index: Sequence[int] = (0, 1, 2, 3),
                 input_transform: str = 'multiple_select',
                 norm_cfg: dict = None,
                 init_cfg=None,
                 **kwargs) -> None:
        name = type(self).__name__
        if isinstance(in_channels, (list, tuple)):
            if len(set(in_channels)) != 1:
                raise ValueError(f'{name}: all maps must have one width, '
                                 f'got in_channels={in_channels}')
            in_channels = in_channels[0]
        in_index = [in_index] if isinstance(in_index, int) else in_index
        if len(in_index) != NUM_LEVELS or len(
                post_process_channels) != NUM_LEVELS:
            raise ValueError(
                f'{name} fuses {NUM_LEVELS} maps: in_index ({in_index}) and '
                f'post_process_channels ({post_process_channels}) need '
                f'{NUM_LEVELS} entries')
        if input_transform != 'multiple_select':
            raise ValueError(f"{name}: input_transform must be "
                             f"'multiple_select', got {input_transform!r}")
        with warnings.catch_warnings():
            # BaseDecodeHead warns about thresholds for 1 or 2 outputs, a
            # binary-segmentation notion meaningless here.
            warnings.filterwarnings(
                'ignore', message='(threshold is not defined|For binary)')
            super().__init__(
                [in_channels] * NUM_LEVELS,
                channels,
                in_index=list(in_index),
                input_transform=input_transform,
                norm_cfg=norm_cfg,
                init_cfg=init_cfg,
                **kwargs)
        self.reassemble_blocks = ReassembleBlocks(
            in_channels, list(post_process_channels), readout_type='ignore')
        self.convs = nn.ModuleList([
            ConvModule(c, channels, 3, padding=1, bias=False, act_cfg=None)
            for c in post_process_channels
        ])
        self.fusion_blocks = nn.ModuleList([
            FusionBlock(channels, self.act_cfg, norm_cfg, with_skip=i > 0)
            for i in range(NUM_LEVELS)
        ])

    def _fuse(self, inputs: Sequence[Tensor]) -> Tensor:
        """``(B, channels, 2h, 2w)`` features of the four selected maps."""
        maps = self._transform_inputs(inputs)
        feats = self.reassemble_blocks([[x, None] for x in maps])
        feats = [conv(x) for conv, x in zip(self.convs, feats)]
        out = self.fusion_blocks[0](feats[-1])
        for i in range(1, NUM_LEVELS):
            skip = feats[-(i + 1)]
            out = out[..., :skip.shape[-2], :skip.shape[-1]]
            out = self.fusion_blocks[i](out, skip)
        return out


@MODELS.register_module()
class DPTSemSegHead(DPTBaseHead):
    """DPT semantic segmentation head (official ``head_type='semseg'``).

    After the fusion: ``project`` (3x3 conv without bias, ``norm_cfg`` norm,
    ReLU), dropout, ``conv_seg`` (1x1) and a bilinear x2 upsampling
    (align_corners=True) to the full resolution ``(16h, 16w)``. The dropout
    is element-wise ``nn.Dropout`` as official (mmseg's ``cls_seg`` uses
    ``Dropout2d``).

    Args:
        dropout_ratio (float): Defaults to 0.1.
        **kwargs: See :class:`DPTBaseHead`.
    """

    def __init__(self, dropout_ratio: float = 0.1, **kwargs) -> None:
        super().__init__(dropout_ratio=dropout_ratio, **kwargs)
        if self.dropout is not None:
            self.dropout = nn.Dropout(dropout_ratio)
        self.project = ConvModule(
            self.channels,
            self.channels,
            3,
            padding=1,
            bias=False,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        init_official_head_weights(self)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Logits ``(B, num_classes, 16h, 16w)`` of four ``(B, C, h, w)``
        backbone maps."""
        x = self.cls_seg(self.project(self._fuse(inputs)))
        return F.interpolate(
            x, scale_factor=2, mode='bilinear', align_corners=True)


@MODELS.register_module()
class DPTRegressionHead(DPTBaseHead):
    """DPT dense regression head (official ``head_type='regression'``).

    After the fusion: ``project`` (3x3 conv ``channels -> channels / 2``),
    bilinear x2 (align_corners=True), ``hidden`` (3x3 conv to
    ``hidden_channels``, ReLU) and ``conv_seg`` (1x1 to ``num_classes``
    outputs). No final activation (unlike DPT's depth model).

    Targets are read from each data sample's ``gt_depth_map.data``
    ``(C, H, W)`` float and the optional ``gt_valid_mask.data`` ``(1, H, W)``
    bool (absent: all valid). Each ``loss_decode`` module is called as
    ``loss(pred, target, valid_mask=valid)`` if its ``forward`` takes
    ``valid_mask`` (mmmultimae's regression losses), else as
    ``loss(pred, target)`` with invalid target pixels set to 0 (mmseg's
    ``SiLogLoss`` treats targets ``<= eps`` as invalid). ``predict_by_feat``
    (``BaseDecodeHead``'s) resizes the map to the image (pad) size.

    Args:
        num_classes (int): Output channels (1 for depth, 3 for normals).
        loss_decode (dict | Sequence[dict]): Loss config(s); required.
        hidden_channels (int): Width before ``conv_seg``. Defaults to 32.
        dropout_ratio (float): Dropout before ``conv_seg`` (official: none).
            Defaults to 0.
        **kwargs: See :class:`DPTBaseHead`.
    """

    def __init__(self,
                 *,
                 num_classes: int,
                 loss_decode: Union[dict, Sequence[dict]],
                 hidden_channels: int = 32,
                 dropout_ratio: float = 0.,
                 **kwargs) -> None:
        super().__init__(
            num_classes=num_classes,
            out_channels=num_classes,
            loss_decode=loss_decode,
            dropout_ratio=dropout_ratio,
            **kwargs)
        self.threshold = None
        half = self.channels // 2
        self.project = nn.Conv2d(self.channels, half, 3, padding=1)
        self.hidden = ConvModule(
            half, hidden_channels, 3, padding=1, act_cfg=self.act_cfg)
        self.conv_seg = nn.Conv2d(hidden_channels, num_classes, 1)
        init_official_head_weights(self)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Regression map ``(B, num_classes, 16h, 16w)`` of four
        ``(B, C, h, w)`` backbone maps."""
        x = self.project(self._fuse(inputs))
        x = F.interpolate(
            x, scale_factor=2, mode='bilinear', align_corners=True)
        return self.cls_seg(self.hidden(x))

    def loss_by_feat(self, pred: Tensor, batch_data_samples: List) -> dict:
        """Regression losses.

        Args:
            pred (Tensor): ``(B, C, h, w)``; resized (bilinear,
                ``align_corners``) to the target size if it differs.
            batch_data_samples (list[SegDataSample]): With ``gt_depth_map``
                and optionally ``gt_valid_mask``.

        Returns:
            dict[str, Tensor]: One entry per ``loss_name``.
        """
        name = type(self).__name__
        target, valid = stack_regression_targets(batch_data_samples, name)
        if pred.shape[1] != target.shape[1]:
            raise ValueError(f'{name} predicts {pred.shape[1]} channels but '
                             f'gt_depth_map has {target.shape[1]}')
        if pred.shape[2:] != target.shape[2:]:
            pred = resize(
                pred,
                size=target.shape[2:],
                mode='bilinear',
                align_corners=self.align_corners)
        losses = self.loss_decode
        if not isinstance(losses, nn.ModuleList):
            losses = [losses]
        return regression_losses(pred, target, valid, losses)
