# Copyright (c) mmmultimae contributors. All rights reserved.
"""Class predictions of segmentation logits with an optional void class."""
from torch import Tensor


def seg_logits_to_labels(seg_logits: Tensor, num_classes: int) -> Tensor:
    """Argmax over the first ``num_classes`` channels.

    A head trained with a void class (official MultiMAE
    ``--seg_use_void_label``: ``K + 1`` outputs, padded pixels labelled
    ``K``) never predicts void at evaluation: the void channel is left out
    of the argmax, as in official ``evaluate()``. Without a void channel
    (``C == num_classes``) this is a plain argmax.

    Args:
        seg_logits (Tensor): Logits ``(B, C, H, W)`` with
            ``C in (num_classes, num_classes + 1)``.
        num_classes (int): Number of real classes ``K``.

    Returns:
        Tensor: int64 class ids ``(B, H, W)`` in ``[0, K)``.
    """
    if seg_logits.dim() != 4:
        raise ValueError('seg_logits must be (B, C, H, W), got shape '
                         f'{tuple(seg_logits.shape)}')
    channels = seg_logits.shape[1]
    if channels not in (num_classes, num_classes + 1):
        raise ValueError(f'seg_logits has {channels} channels; expected '
                         f'num_classes={num_classes} or num_classes + 1 '
                         '(with a void class)')
    return seg_logits[:, :num_classes].argmax(dim=1)
