# Copyright (c) mmmultimae contributors. All rights reserved.
from .mae_decoder import MAEDecoder
from .spatial_decoder import (SpatialDecoder, gather_tokens,
                              modality_grid_tokens)

__all__ = [
    'SpatialDecoder', 'MAEDecoder', 'gather_tokens', 'modality_grid_tokens'
]
