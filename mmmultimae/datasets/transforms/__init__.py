# Copyright (c) mmmultimae contributors. All rights reserved.
from .corruptions import (ALL_CORRUPTIONS, COMMON_CORRUPTIONS,
                          EXTRA_CORRUPTIONS, ImageCorruption, corrupt_image)
from .formatting import (DEFAULT_META_KEYS, SEG_META_KEYS,
                         PackMultiModalInputs, PackMultiModalSegInputs)
from .fused_loading import LoadMultiModalRandomResizedCrop, nearest_indices
from .image_loading import LoadImageFromFileStrict, load_rgb_image
from .label_transforms import AdaptSegLabels, adapt_seg_labels
from .loading import LOADABLE_MODALITIES, LoadMultiModalImages
from .processing import (DEFAULT_INTERPOLATIONS, DownsampleLabels,
                         MultiModalRandomFlip, MultiModalRandomResizedCrop,
                         check_same_size, get_modalities, resized_crop,
                         sample_crop_box)
from .photometric import MultiModalColorJitter, MultiModalRandomGrayscale
from .resize_pad_crop import (DEFAULT_PAD_VALUES, MultiModalPad,
                              MultiModalRandomCrop, MultiModalRandomResize,
                              MultiModalResize, resize_sample)
from .taskonomy import LoadTaskonomyTasks

__all__ = [
    'LoadMultiModalImages', 'MultiModalRandomResizedCrop',
    'MultiModalRandomFlip', 'DownsampleLabels', 'PackMultiModalInputs',
    'sample_crop_box', 'resized_crop', 'check_same_size', 'get_modalities',
    'DEFAULT_INTERPOLATIONS', 'DEFAULT_META_KEYS', 'LOADABLE_MODALITIES',
    'AdaptSegLabels', 'adapt_seg_labels', 'LoadTaskonomyTasks',
    'PackMultiModalSegInputs', 'SEG_META_KEYS', 'MultiModalColorJitter',
    'MultiModalRandomGrayscale', 'MultiModalRandomResize', 'MultiModalResize',
    'MultiModalPad', 'MultiModalRandomCrop', 'DEFAULT_PAD_VALUES',
    'resize_sample', 'ImageCorruption', 'corrupt_image', 'ALL_CORRUPTIONS',
    'COMMON_CORRUPTIONS', 'EXTRA_CORRUPTIONS', 'LoadImageFromFileStrict',
    'load_rgb_image', 'LoadMultiModalRandomResizedCrop', 'nearest_indices'
]
