# Copyright (c) mmmultimae contributors. All rights reserved.
from .base_decoder import BaseDecoder, check_decoder_inputs, decoder_geometry
from .mae_decoder import MAEDecoder
from .spatial_decoder import SpatialDecoder

__all__ = [
    'BaseDecoder', 'SpatialDecoder', 'MAEDecoder', 'check_decoder_inputs',
    'decoder_geometry'
]
