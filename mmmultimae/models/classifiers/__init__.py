# Copyright (c) mmmultimae contributors. All rights reserved.
"""Image classifiers on MultiViT, built on mmpretrain (imported by the model
registry when a config names them: pre-training and the dense transfers do
not need mmpretrain)."""
from .multivit_classifier import MultiViTClassifier
from .multivit_cls_head import (MultiViTClsHead, convert_official_cls_head,
                                convert_official_cls_head_cfg, pool_tokens)

__all__ = [
    'MultiViTClassifier', 'MultiViTClsHead', 'convert_official_cls_head',
    'convert_official_cls_head_cfg', 'pool_tokens'
]
