# Copyright (c) mmmultimae contributors. All rights reserved.
from .depth_metric import (DEPTH_METRIC_KEYS, NYU_DEPTH_MEAN, NYU_DEPTH_STD,
                           MaskedDepthMetric, depth_error_sums,
                           depth_metrics_from_sums, official_nyu_depth_metrics)
from .knn_metric import KNNAccuracy
from .mce_metric import (MeanCorruptionError, corruption_errors,
                         relative_corruption_errors)
from .per_mode_metric import PerTestModeMetric
from .reconstruction_metric import (MaskedReconstructionMetric,
                                    reduce_reconstruction_records)
from .regression_metric import (NORMAL_METRIC_KEYS, REGRESSION_LOSSES,
                                RegressionLossMetric, SurfaceNormalMetric,
                                normal_angles, normal_error_sums)

__all__ = [
    'MaskedDepthMetric', 'official_nyu_depth_metrics', 'depth_error_sums',
    'depth_metrics_from_sums', 'DEPTH_METRIC_KEYS', 'NYU_DEPTH_MEAN',
    'NYU_DEPTH_STD', 'PerTestModeMetric', 'RegressionLossMetric',
    'SurfaceNormalMetric', 'normal_angles', 'normal_error_sums',
    'NORMAL_METRIC_KEYS', 'REGRESSION_LOSSES', 'MeanCorruptionError',
    'corruption_errors', 'relative_corruption_errors', 'KNNAccuracy',
    'MaskedReconstructionMetric', 'reduce_reconstruction_records'
]
