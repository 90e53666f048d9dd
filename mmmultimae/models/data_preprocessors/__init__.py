# Copyright (c) mmmultimae contributors. All rights reserved.
from .depth_standardization import standardize_depth
from .multimodal_data_preprocessor import MultiModalDataPreprocessor

__all__ = ['MultiModalDataPreprocessor', 'standardize_depth']
