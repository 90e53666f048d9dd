# Copyright (c) mmmultimae contributors. All rights reserved.
from .multivit import MultiViT

__all__ = ['MultiViT']
