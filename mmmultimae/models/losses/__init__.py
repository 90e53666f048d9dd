# Copyright (c) mmmultimae contributors. All rights reserved.
from .masked_losses import (MaskedCrossEntropyLoss, MaskedL1Loss,
                            MaskedMSELoss, masked_sample_mean)
from .task_weighting import TaskWeighting

__all__ = [
    'MaskedMSELoss', 'MaskedL1Loss', 'MaskedCrossEntropyLoss',
    'masked_sample_mean', 'TaskWeighting'
]
