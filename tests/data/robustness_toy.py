# Copyright (c) mmmultimae contributors. All rights reserved.
"""A classifier whose predictions are known by construction, for the
robustness tool's tests.

``MeanColourBackbone`` returns the mean colour of the image; with a linear
head of weights ``2 c_k`` and biases ``-|c_k|^2`` for template colours
``c_k`` (and a low bias elsewhere), the predicted class is the template
nearest to the image's mean colour (``|x - c|^2 = |x|^2 - 2 c.x + |c|^2``).
"""
from typing import Dict, Tuple

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class MeanColourBackbone(BaseModule):
    """Mean over pixels of each channel: ``(B, C, H, W) -> ((B, C),)``."""

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        return (x.mean(dim=(2, 3)), )


def template_head_state(templates: Dict[int, Tuple[int, int, int]],
                        num_classes: int = 1000,
                        other_bias: float = -10.0) -> Dict[str, torch.Tensor]:
    """``head.fc`` weights of a nearest-template classifier on mean RGB
    colours scaled to [0, 1] (the toy config's data preprocessor)."""
    weight = torch.zeros(num_classes, 3)
    bias = torch.full((num_classes, ), other_bias)
    for index, colour in templates.items():
        c = torch.tensor(colour, dtype=torch.float32) / 255
        weight[index] = 2 * c
        bias[index] = -(c * c).sum()
    return {'head.fc.weight': weight, 'head.fc.bias': bias}
