# Copyright (c) mmmultimae contributors. All rights reserved.
from .inference_modes import (MultiModalSegmentorMixin, crop_inputs,
                              parse_test_cfg, resize_pad_inputs, slide_windows)
from .multimodal_depth_estimator import MultiModalDepthEstimator, clamp_depth
from .multimodal_encoder_decoder import MultiModalEncoderDecoder

__all__ = [
    'MultiModalDepthEstimator', 'clamp_depth', 'MultiModalEncoderDecoder',
    'MultiModalSegmentorMixin', 'crop_inputs', 'parse_test_cfg',
    'resize_pad_inputs', 'slide_windows'
]
