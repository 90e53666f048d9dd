# Copyright (c) mmmultimae contributors. All rights reserved.
"""Semantic segmentation from any subset of modalities."""
from mmseg.models.segmentors import EncoderDecoder

from mmmultimae.registry import MODELS
from .inference_modes import MultiModalSegmentorMixin


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
