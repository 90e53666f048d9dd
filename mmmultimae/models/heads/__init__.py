# Copyright (c) mmmultimae contributors. All rights reserved.
from .reconstruction_heads import (BaseReconstructionHead,
                                   PixelReconstructionHead,
                                   SemSegReconstructionHead)

__all__ = [
    'BaseReconstructionHead', 'PixelReconstructionHead',
    'SemSegReconstructionHead'
]
