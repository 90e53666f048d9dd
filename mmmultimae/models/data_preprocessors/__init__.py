# Copyright (c) mmmultimae contributors. All rights reserved.
from .depth_standardization import (depth_statistics, standardize_depth,
                                    unstandardize_depth)
from .multimodal_data_preprocessor import MultiModalDataPreprocessor

__all__ = [
    'MultiModalDataPreprocessor', 'depth_statistics', 'standardize_depth',
    'unstandardize_depth'
]
