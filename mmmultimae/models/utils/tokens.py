# Copyright (c) mmmultimae contributors. All rights reserved.
"""Token gathering and per-modality token grids."""
import torch
from torch import Tensor


def gather_tokens(x: Tensor, index: Tensor) -> Tensor:
    """Gather tokens along dim 1.

    Args:
        x (Tensor): Tokens ``(B, N, C)``, or ``(N, C)`` shared by the batch.
        index (Tensor): Indices ``(B, M)``.

    Returns:
        Tensor: ``(B, M, C)`` with ``out[b, i] = x[b, index[b, i]]``.
    """
    if x.dim() == 2:
        return x[index]
    # index_select on flattened rows, not torch.gather: autograd keeps only
    # the indices for its backward (an index_add), gather also keeps all of
    # ``x`` (e.g. the (B, 588, 768) tokens of every modality, only 98 of
    # which are encoded).
    b, n, c = x.shape
    offsets = torch.arange(b, device=x.device).unsqueeze(1) * n
    rows = (index + offsets).flatten()
    return x.reshape(b * n, c).index_select(0, rows).reshape(b, -1, c)


def modality_grid_tokens(tokens: Tensor, mask_token: Tensor,
                         ids_restore: Tensor, token_slice: slice) -> Tensor:
    """One modality's full token grid from the visible tokens.

    Position ``j`` of the modality holds its encoded token if visible, else
    ``mask_token``; equal to official MultiMAE's "append mask tokens, undo
    the shuffle, slice the modality" without building the other
    modalities' grids.

    Args:
        tokens (Tensor): Visible tokens ``(B, n_vis, C)`` in ``ids_keep``
            order.
        mask_token (Tensor): ``(1, 1, C)``.
        ids_restore (Tensor): ``(B, N_total)``, see ``masks_to_ids``.
        token_slice (slice): The modality's slice of the concatenation.

    Returns:
        Tensor: ``(B, N_m, C)``.
    """
    n_vis = tokens.shape[1]
    pos = ids_restore[:, token_slice]  # position in [visible, masked]
    b, n = pos.shape
    if n_vis == 0:
        return mask_token.expand(b, n, -1)
    picked = gather_tokens(tokens, pos.clamp(max=n_vis - 1))
    return torch.where((pos < n_vis).unsqueeze(-1), picked, mask_token)
