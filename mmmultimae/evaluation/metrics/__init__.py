# Copyright (c) mmmultimae contributors. All rights reserved.
from .depth_metric import (DEPTH_METRIC_KEYS, NYU_DEPTH_MEAN, NYU_DEPTH_STD,
                           MaskedDepthMetric, depth_error_sums,
                           depth_metrics_from_sums, official_nyu_depth_metrics)
from .per_mode_metric import PerTestModeMetric

__all__ = [
    'MaskedDepthMetric', 'official_nyu_depth_metrics', 'depth_error_sums',
    'depth_metrics_from_sums', 'DEPTH_METRIC_KEYS', 'NYU_DEPTH_MEAN',
    'NYU_DEPTH_STD', 'PerTestModeMetric'
]
