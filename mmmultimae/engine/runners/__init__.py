# Copyright (c) mmmultimae contributors. All rights reserved.
from .masked_reconstruction_val_loop import MaskedReconstructionValLoop

__all__ = ['MaskedReconstructionValLoop']
