# Copyright (c) mmmultimae contributors. All rights reserved.
from .masked_losses import (MaskedCrossEntropyLoss, MaskedL1Loss,
                            MaskedMSELoss, masked_sample_mean)
from .regression_losses import (BerHuLoss, PixelL1Loss, PixelMSELoss,
                                masked_berhu_loss, masked_l1_loss,
                                masked_mse_loss)
from .task_weighting import TaskWeighting

__all__ = [
    'MaskedMSELoss', 'MaskedL1Loss', 'MaskedCrossEntropyLoss',
    'masked_sample_mean', 'TaskWeighting', 'BerHuLoss', 'PixelL1Loss',
    'PixelMSELoss', 'masked_berhu_loss', 'masked_l1_loss', 'masked_mse_loss'
]
