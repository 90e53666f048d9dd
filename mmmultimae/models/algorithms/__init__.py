# Copyright (c) mmmultimae contributors. All rights reserved.
from .multimae import MultiMAE

__all__ = ['MultiMAE']
