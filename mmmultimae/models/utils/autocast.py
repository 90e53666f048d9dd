# Copyright (c) mmmultimae contributors. All rights reserved.
"""Querying the autocast state."""
from typing import Optional

import torch


def active_autocast_dtype(device_type: str) -> Optional[torch.dtype]:
    """The dtype autocast casts to on ``device_type``, None when it is off.

    Args:
        device_type (str): e.g. ``'cuda'`` or ``'cpu'``.

    Returns:
        torch.dtype | None: e.g. ``torch.bfloat16``.
    """
    if not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)
