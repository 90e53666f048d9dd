# Copyright (c) mmmultimae contributors. All rights reserved.
from .mixed_precision_optim_wrapper import MixedPrecisionOptimWrapper

__all__ = ['MixedPrecisionOptimWrapper']
