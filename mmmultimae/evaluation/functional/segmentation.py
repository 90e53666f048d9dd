# Copyright (c) mmmultimae contributors. All rights reserved.
"""Per-sample class areas of label maps and the scores built on them."""
from typing import Optional

import torch
from torch import Tensor


def class_areas(pred: Tensor,
                label: Tensor,
                num_classes: int,
                ignore_index: Optional[int] = None) -> Tensor:
    """Per-sample intersection, union, prediction and label areas.

    The quantities of mmseg's ``IoUMetric.intersect_and_union``, for a
    whole batch at once (one ``bincount``): pixels labelled
    ``ignore_index`` (or outside ``[0, num_classes)``) are left out.

    Args:
        pred (Tensor): Predicted class ids ``(B, ...)``.
        label (Tensor): Ground-truth ids, same shape.
        num_classes (int): ``K``.
        ignore_index (int, optional): Label to leave out.

    Returns:
        Tensor: float64 ``(B, 4, K)``: intersection, union, predicted area
        and label area per class.
    """
    if pred.shape != label.shape:
        raise ValueError(f'pred and label must have the same shape, got '
                         f'{tuple(pred.shape)} and {tuple(label.shape)}')
    batch = pred.shape[0]
    pred = pred.reshape(batch, -1).long()
    label = label.reshape(batch, -1).long()
    valid = (label >= 0) & (label < num_classes)
    if ignore_index is not None:
        valid &= label != ignore_index
    offset = torch.arange(batch, device=pred.device)[:, None] * num_classes

    def count(ids: Tensor, keep: Tensor) -> Tensor:
        ids = (ids.clamp(0, num_classes - 1) + offset)[keep]
        return torch.bincount(
            ids, minlength=batch * num_classes).reshape(batch,
                                                        num_classes).double()

    area_pred = count(pred, valid & (pred >= 0) & (pred < num_classes))
    area_label = count(label, valid)
    intersect = count(label, valid & (pred == label))
    union = area_pred + area_label - intersect
    return torch.stack([intersect, union, area_pred, area_label], dim=1)


def mean_iou(areas: Tensor) -> Tensor:
    """Mean over classes of ``intersection / union``, classes with an
    empty union left out (mmseg's ``nanmean``).

    Args:
        areas (Tensor): ``(4, K)`` summed :func:`class_areas`.

    Returns:
        Tensor: 0-d float64 (NaN if no class occurs).
    """
    intersect, union = areas[0], areas[1]
    # the mean of no class is NaN
    return (intersect / union)[union > 0].mean()
