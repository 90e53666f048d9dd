# Copyright (c) mmmultimae contributors. All rights reserved.
from .convnext_head import ConvNeXtHead, patch_tokens_to_map
from .dpt_head import (DPTRegressionHead, DPTSemSegHead, FusionBlock,
                       ResidualConvUnit)
from .official_heads import (convert_official_convnext_head,
                             convert_official_dpt_head, convert_official_head,
                             convert_official_head_cfg,
                             convert_official_segmenter_head)
from .utils import init_official_head_weights, regression_losses
from .vit_uper_head import ViTUPerHead

__all__ = [
    'ConvNeXtHead', 'patch_tokens_to_map', 'DPTRegressionHead',
    'DPTSemSegHead', 'FusionBlock', 'ResidualConvUnit', 'ViTUPerHead',
    'convert_official_convnext_head', 'convert_official_segmenter_head',
    'convert_official_dpt_head', 'convert_official_head',
    'convert_official_head_cfg', 'init_official_head_weights',
    'regression_losses'
]
