# Copyright (c) mmmultimae contributors. All rights reserved.
from .encoder_checkpoint import (EncoderLoadReport, encoder_state_dict,
                                 load_pretrained_encoder)
from .multivit import MultiViT

__all__ = [
    'MultiViT', 'EncoderLoadReport', 'encoder_state_dict',
    'load_pretrained_encoder'
]
