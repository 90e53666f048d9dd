# Copyright (c) mmmultimae contributors. All rights reserved.
"""Depth (and any dense regression) from any subset of modalities."""
from typing import Optional, Tuple

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import DepthEstimator
from torch import Tensor

from mmmultimae.registry import MODELS
from .inference_modes import MultiModalSegmentorMixin


def clamp_depth(depth: Tensor, min_depth: Optional[float],
                max_depth: Optional[float]) -> Tensor:
    """Clamp a prediction to ``[min_depth, max_depth]`` (None: open)."""
    if min_depth is None and max_depth is None:
        return depth
    return depth.clamp(min=min_depth, max=max_depth)


@MODELS.register_module()
class MultiModalDepthEstimator(MultiModalSegmentorMixin, DepthEstimator):
    """mmseg's ``DepthEstimator`` on a dict of modalities.

    The regression head (``DPTRegressionHead``; any number of output
    channels: depth, surface normals, Taskonomy maps) reads the ``MultiViT``
    maps and owns its loss (berHu, masked L1, mmseg's ``SiLogLoss``), which
    reads ``gt_depth_map`` and ``gt_valid_mask``. Test modes are the
    segmentor's (``whole``, ``slide``, ``resize_pad``, several at once; see
    :class:`MultiModalSegmentorMixin`): mmseg's own ``slide`` for depth
    falls through to ``whole``, ours slides. Every prediction is clamped
    to ``[min_depth, max_depth]`` before it is stored in ``pred_depth_map``
    (and so before the metrics).

    Args:
        backbone (dict): ``MultiViT`` config.
        decode_head (dict): Regression head config.
        min_depth (float, optional): Lower clamp of predictions (e.g. 1e-3
            m). None: no lower clamp.
        max_depth (float, optional): Upper clamp (e.g. 10 m on NYUv2).
            None: no upper clamp.
        neck (dict, optional): Neck config.
        auxiliary_head (dict, optional): Auxiliary head(s).
        train_cfg (dict, optional): mmseg train config.
        test_cfg (dict, optional): Test modes. Defaults to
            ``dict(mode='whole')``.
        data_preprocessor (dict, optional): ``MultiModalDataPreprocessor``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 *,
                 min_depth: Optional[float] = None,
                 max_depth: Optional[float] = None,
                 **kwargs) -> None:
        if (min_depth is not None and max_depth is not None
                and min_depth >= max_depth):
            raise ValueError(f'min_depth ({min_depth}) must be below '
                             f'max_depth ({max_depth})')
        super().__init__(**kwargs)
        self.min_depth = min_depth
        self.max_depth = max_depth

    def set_prediction(self, sample, logits: Tensor) -> None:
        """``pred_depth_map`` ``(C, h, w)``, clamped."""
        sample.pred_depth_map = PixelData(
            data=clamp_depth(logits[0], self.min_depth, self.max_depth))

    def example_target(self, sample, size: Tuple[int, int],
                       generator: Optional[torch.Generator]) -> None:
        """Random positive ``gt_depth_map`` with the head's channels."""
        sample.gt_depth_map = PixelData(
            data=torch.rand(
                self.decode_head.num_classes, *size, generator=generator) +
            0.5)

    def postprocess_result(self,
                           depth: Tensor,
                           data_samples: Optional[list] = None) -> list:
        """mmseg's post-processing (padding removed, resized to the original
        size) of the clamped prediction."""
        return super().postprocess_result(
            clamp_depth(depth, self.min_depth, self.max_depth), data_samples)
