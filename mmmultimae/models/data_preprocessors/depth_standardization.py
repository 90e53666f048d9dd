# Copyright (c) mmmultimae contributors. All rights reserved.
"""Robust per-sample depth standardisation with a valid-pixel mask."""
from typing import Optional, Tuple

import torch
from torch import Tensor


def standardize_depth(depth: Tensor,
                      valid: Optional[Tensor] = None,
                      trim: float = 0.1,
                      eps: float = 1e-6) -> Tensor:
    """Standardise each depth map by the trimmed statistics of its valid
    pixels; invalid pixels become 0.

    Per sample with ``n`` valid pixels, the sorted valid values at
    positions ``[int(trim * n), int((1 - trim) * n))`` give the mean and
    the unbiased variance, and every pixel becomes ``(d - mean) /
    sqrt(var + eps)``; invalid pixels are then set to 0. This is official
    MultiMAE's depth-*input* standardisation of both fine-tuning variants:

    - ``run_finetuning_depth.py`` / ``_taskonomy.py`` (``mask_valid``;
      invalid pixels set to 0 afterwards);
    - the semseg dataset's ``standardize_depth_map`` (pixels equal to the
      pad value 254 are the invalid ones; they are filled with the trimmed
      mean before standardising, so they come out as exactly
      ``(mean - mean) / std = 0`` too). Call it with
      ``valid = depth != 254``.

    With ``valid=None`` every pixel counts: the pre-training
    standardisation (official ``standardize_depth``), used as input and
    target.

    A sample whose kept slice has fewer than 2 values (fewer than 3 valid
    pixels at ``trim=0.1``, e.g. a crop that falls entirely into an
    invalid region) has no usable statistics: its output is all zeros,
    like its invalid pixels, instead of official NaN. Invalid pixels may
    hold any value (inf, NaN): they enter neither the statistics nor the
    output. Everything is vectorised over the batch (one sort, no loop and
    no host synchronisation).

    Args:
        depth (Tensor): Depth maps ``(B, 1, H, W)`` (any ``(B, ...)``
            shape works).
        valid (Tensor, optional): Bool mask of the same shape, True =
            valid. None = all pixels valid.
        trim (float): Fraction of the valid values cut at each end, in
            ``[0, 0.5)``. Defaults to 0.1.
        eps (float): Added to the variance. Defaults to 1e-6.

    Returns:
        Tensor: float32 maps of the input's shape.
    """
    mean, std, usable = depth_statistics(depth, valid, trim, eps)
    batch = depth.shape[0]
    flat = depth.reshape(batch, -1).float()
    valid_flat = torch.ones_like(flat, dtype=torch.bool) if valid is None \
        else valid.reshape(batch, -1)
    zero = flat.new_zeros(())
    out = torch.where(valid_flat & usable[:, None],
                      (flat - mean[:, None]) / std[:, None], zero)
    return out.reshape(depth.shape)


def depth_statistics(depth: Tensor,
                     valid: Optional[Tensor] = None,
                     trim: float = 0.1,
                     eps: float = 1e-6) -> Tuple[Tensor, Tensor, Tensor]:
    """The per-sample statistics :func:`standardize_depth` uses.

    Args:
        depth (Tensor): Depth maps ``(B, 1, H, W)`` (any ``(B, ...)``).
        valid (Tensor, optional): Bool mask of the same shape, True =
            valid; None = all pixels.
        trim (float): Fraction cut at each end of the sorted valid values.
        eps (float): Added to the variance.

    Returns:
        tuple[Tensor, Tensor, Tensor]: float32 ``mean`` and ``std``
        (``sqrt(var + eps)``) of shape ``(B,)``, and bool ``usable``
        ``(B,)``: False where the kept slice has fewer than 2 values (the
        sample is then standardised to zeros and cannot be undone).
    """
    if not 0 <= trim < 0.5:
        raise ValueError(f'trim must be in [0, 0.5), got {trim}')
    if depth.dim() < 2:
        raise ValueError('depth must be batched, (B, 1, H, W), got shape '
                         f'{tuple(depth.shape)}')
    batch = depth.shape[0]
    flat = depth.reshape(batch, -1).float()
    num_pixels = flat.shape[1]
    if valid is None:
        low, high = int(trim * num_pixels), int((1 - trim) * num_pixels)
        if high - low < 2:
            raise ValueError(f'standardize_depth keeps {high - low} '
                             f'of {num_pixels} pixels per sample; at least '
                             '2 are needed')
        valid_flat = torch.ones_like(flat, dtype=torch.bool)
    else:
        if not isinstance(valid, Tensor) or valid.dtype != torch.bool:
            what = valid.dtype if isinstance(valid, Tensor) else type(valid)
            raise TypeError(f'valid must be a bool tensor (True = valid) '
                            f'of shape {tuple(depth.shape)}, got {what}')
        if valid.shape != depth.shape:
            raise ValueError(f'valid must have the shape of depth '
                             f'{tuple(depth.shape)}, got {tuple(valid.shape)}')
        valid_flat = valid.reshape(batch, -1)
    # Invalid pixels sort after every valid value, so positions count
    # valid values only (official: NaN, which torch also sorts last).
    inf = flat.new_tensor(float('inf'))
    ordered = torch.where(valid_flat, flat, inf).sort(dim=1).values
    num_valid = valid_flat.sum(dim=1, keepdim=True).double()
    # float64 products floor exactly like Python's ``int(trim * n)``.
    low = (trim * num_valid).floor().long()
    high = ((1 - trim) * num_valid).floor().long()
    position = torch.arange(num_pixels, device=flat.device)
    kept = (position >= low) & (position < high)
    count = kept.sum(dim=1, keepdim=True)
    zero = flat.new_zeros(())
    mean = torch.where(kept, ordered, zero).sum(
        dim=1, keepdim=True) / count.clamp(min=1)
    sq_dev = torch.where(kept, (ordered - mean).square(), zero)
    var = sq_dev.sum(dim=1, keepdim=True) / (count - 1).clamp(min=1)
    std = torch.sqrt(var + eps)
    return mean[:, 0], std[:, 0], count[:, 0] >= 2


def unstandardize_depth(standardized: Tensor, mean: Tensor,
                        std: Tensor) -> Tensor:
    """Undo :func:`standardize_depth`: ``x * std + mean`` per sample.

    Args:
        standardized (Tensor): ``(B, ...)`` maps in standardised units
            (e.g. a depth decoder's prediction).
        mean (Tensor): ``(B,)`` means from :func:`depth_statistics`.
        std (Tensor): ``(B,)`` standard deviations from
            :func:`depth_statistics`.

    Returns:
        Tensor: float32 maps in the units of the depth the statistics were
        computed on.
    """
    if mean.shape != (standardized.shape[0], ) or mean.shape != std.shape:
        raise ValueError(f'mean and std must be (B,) = '
                         f'({standardized.shape[0]},), got '
                         f'{tuple(mean.shape)} and {tuple(std.shape)}')
    shape = (-1, ) + (1, ) * (standardized.dim() - 1)
    return standardized.float() * std.view(shape) + mean.view(shape)
