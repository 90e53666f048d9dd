# Copyright (c) mmmultimae contributors. All rights reserved.
"""Semantic segmentation from any subset of modalities."""
from typing import Optional, Union

from mmengine.registry import DefaultScope
from mmseg.models.segmentors import EncoderDecoder
from torch import nn

from mmmultimae.registry import MODELS
from .inference_modes import MultiModalSegmentorMixin, parse_test_cfg


@MODELS.register_module()
class MultiModalEncoderDecoder(MultiModalSegmentorMixin, EncoderDecoder):
    """mmseg's ``EncoderDecoder`` on a dict of modalities.

    The backbone is a ``MultiViT`` (rgb, depth, rgb + depth, ... any subset
    it has adapters for); decode heads (``ConvNeXtHead``, mmseg's
    ``SegmenterMaskTransformerHead`` / ``UPerHead`` / ``FCNHead``, our
    ``ViTUPerHead`` / ``DPTSemSegHead``) are swapped by config. Training and
    losses are mmseg's; test modes (``whole``, ``slide``, ``resize_pad``
    with the ``full`` or ``official`` protocol, several at once) are
    described in :class:`MultiModalSegmentorMixin`.

    Args:
        backbone (dict): ``MultiViT`` config (``out_indices``,
            ``out_modalities`` set which maps the heads read).
        decode_head (dict): Decode head config.
        neck (dict, optional): Neck config.
        auxiliary_head (dict, optional): Auxiliary head(s).
        train_cfg (dict, optional): mmseg train config.
        test_cfg (dict, optional): Test modes, see the mixin. Defaults to
            ``dict(mode='whole')``.
        data_preprocessor (dict, optional): ``MultiModalDataPreprocessor``
            config, built through our registry.
        init_cfg (dict, optional): mmengine init config (pre-trained weights
            go to ``backbone.init_cfg``).
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 neck: Optional[dict] = None,
                 auxiliary_head: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if isinstance(data_preprocessor, dict):
            # built here so that our registry (not mmseg's) resolves it
            data_preprocessor = MODELS.build(data_preprocessor)
        test_cfg = dict(mode='whole') if test_cfg is None else test_cfg
        parse_test_cfg(test_cfg)  # errors at build time, not at test time
        # mmseg builds the parts with its own registry; under our scope it
        # finds ours (MultiViT, ConvNeXtHead, BerHuLoss...) and mmseg's
        with DefaultScope.overwrite_default_scope('mmmultimae'):
            super().__init__(
                backbone=backbone,
                decode_head=decode_head,
                neck=neck,
                auxiliary_head=auxiliary_head,
                train_cfg=train_cfg,
                test_cfg=test_cfg,
                data_preprocessor=data_preprocessor,
                init_cfg=init_cfg)
