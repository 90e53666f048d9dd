# Copyright (c) mmmultimae contributors. All rights reserved.
from .formatting import DEFAULT_META_KEYS, PackMultiModalInputs
from .label_transforms import AdaptSegLabels, adapt_seg_labels
from .loading import LOADABLE_MODALITIES, LoadMultiModalImages
from .processing import (DEFAULT_INTERPOLATIONS, DownsampleLabels,
                         MultiModalRandomFlip, MultiModalRandomResizedCrop,
                         check_same_size, get_modalities, resized_crop,
                         sample_crop_box)
from .taskonomy import LoadTaskonomyTasks

__all__ = [
    'LoadMultiModalImages', 'MultiModalRandomResizedCrop',
    'MultiModalRandomFlip', 'DownsampleLabels', 'PackMultiModalInputs',
    'sample_crop_box', 'resized_crop', 'check_same_size', 'get_modalities',
    'DEFAULT_INTERPOLATIONS', 'DEFAULT_META_KEYS', 'LOADABLE_MODALITIES',
    'AdaptSegLabels', 'adapt_seg_labels', 'LoadTaskonomyTasks'
]
