# Copyright (c) mmmultimae contributors. All rights reserved.
from .multimodal_data_preprocessor import (MultiModalDataPreprocessor,
                                           standardize_depth)

__all__ = ['MultiModalDataPreprocessor', 'standardize_depth']
