# Copyright (c) mmmultimae contributors. All rights reserved.
from .masked_losses import (MaskedCrossEntropyLoss, MaskedL1Loss,
                            MaskedMSELoss, masked_sample_mean,
                            normalize_patches)
from .task_weighting import TaskWeighting

__all__ = [
    'MaskedMSELoss', 'MaskedL1Loss', 'MaskedCrossEntropyLoss',
    'masked_sample_mean', 'normalize_patches', 'TaskWeighting'
]
