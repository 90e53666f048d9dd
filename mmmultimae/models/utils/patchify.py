# Copyright (c) mmmultimae contributors. All rights reserved.
"""Conversions between images and patch tokens.

Patch tokens use MultiMAE's ``(c ph pw)`` (channel-major) layout, the layout
of the official decoders' output projections: token ``n`` of a ``(h, w)``
grid is patch ``(n // w, n % w)`` and its vector is the patch's pixels
flattened channel by channel. (MAE uses ``(ph pw c)``.)
"""
from typing import Tuple, Union

import torch
from einops import rearrange
from torch import Tensor

from .pos_embed import to_2tuple_int


def _check_divisible(size: Tuple[int, int], patch: Tuple[int, int],
                     what: str) -> Tuple[int, int]:
    (h, w), (ph, pw) = size, patch
    if ph <= 0 or pw <= 0:
        raise ValueError(f'patch_size must be positive, got {patch}')
    if h % ph or w % pw:
        raise ValueError(f'{what} of spatial size {(h, w)} is not divisible '
                         f'by the patch size {(ph, pw)}')
    return h // ph, w // pw


def patchify(x: Tensor, patch_size: Union[int, Tuple[int, int]]) -> Tensor:
    """Split images into flattened patches in ``(c ph pw)`` order.

    Args:
        x (Tensor): Images of shape ``(B, C, H, W)``.
        patch_size (int | tuple[int, int]): Patch size ``(ph, pw)``.

    Returns:
        Tensor: Patches of shape ``(B, (H/ph) * (W/pw), C * ph * pw)``.
    """
    if x.dim() != 4:
        raise ValueError('patchify expects images of shape (B, C, H, W), '
                         f'got {tuple(x.shape)}')
    ph, pw = to_2tuple_int(patch_size, 'patch_size')
    _check_divisible(tuple(x.shape[-2:]), (ph, pw), 'image')
    return rearrange(
        x, 'b c (nh ph) (nw pw) -> b (nh nw) (c ph pw)', ph=ph, pw=pw)


def unpatchify(x: Tensor, grid: Tuple[int, int],
               patch_size: Union[int, Tuple[int,
                                            int]], channels: int) -> Tensor:
    """Reassemble ``(c ph pw)`` patch tokens into images.

    Args:
        x (Tensor): Patch tokens of shape ``(B, h * w, C * ph * pw)``.
        grid (tuple[int, int]): Patch grid ``(h, w)``.
        patch_size (int | tuple[int, int]): Patch size ``(ph, pw)``.
        channels (int): Number of channels ``C``.

    Returns:
        Tensor: Images of shape ``(B, C, h * ph, w * pw)``.
    """
    nh, nw = to_2tuple_int(grid, 'grid')
    ph, pw = to_2tuple_int(patch_size, 'patch_size')
    if x.dim() != 3 or x.shape[1] != nh * nw or \
            x.shape[2] != channels * ph * pw:
        raise ValueError(
            f'unpatchify expects tokens of shape (B, {nh * nw}, '
            f'{channels * ph * pw}) for grid {(nh, nw)}, patch size '
            f'{(ph, pw)} and {channels} channels, got {tuple(x.shape)}')
    return rearrange(
        x, 'b (nh nw) (c ph pw) -> b c (nh ph) (nw pw)', nh=nh, ph=ph, pw=pw)


def patchify_labels(labels: Tensor,
                    patch_size: Union[int, Tuple[int, int]]) -> Tensor:
    """Split label maps into flattened patches (row-major inside a patch).

    Args:
        labels (Tensor): Label maps of shape ``(B, H, W)``.
        patch_size (int | tuple[int, int]): Patch size ``(ph, pw)``.

    Returns:
        Tensor: Label patches of shape ``(B, (H/ph) * (W/pw), ph * pw)``,
        matching the pixel order of :func:`patchify` for one channel.
    """
    if labels.dim() != 3:
        raise ValueError('patchify_labels expects label maps of shape '
                         f'(B, H, W), got {tuple(labels.shape)}')
    return patchify(labels.unsqueeze(1), patch_size)


def unpatchify_labels(x: Tensor, grid: Tuple[int, int],
                      patch_size: Union[int, Tuple[int, int]]) -> Tensor:
    """Inverse of :func:`patchify_labels`.

    Args:
        x (Tensor): Label patches of shape ``(B, h * w, ph * pw)``.
        grid (tuple[int, int]): Patch grid ``(h, w)``.
        patch_size (int | tuple[int, int]): Patch size ``(ph, pw)``.

    Returns:
        Tensor: Label maps of shape ``(B, h * ph, w * pw)``.
    """
    return unpatchify(x, grid, patch_size, 1).squeeze(1)


def patch_statistics(patches: Tensor,
                     eps: float = 1e-6) -> Tuple[Tensor, Tensor]:
    """Mean and standard deviation of every patch.

    The statistics of MAE's / MultiMAE's per-patch target standardisation
    (``norm_pix``): over the patch's pixels and channels, unbiased variance,
    ``std = sqrt(var + eps)``.

    Args:
        patches (Tensor): Patch tokens ``(B, N, C * ph * pw)``.
        eps (float): Added to the variance. Defaults to 1e-6.

    Returns:
        tuple[Tensor, Tensor]: ``mean`` and ``std``, each ``(B, N, 1)``.
    """
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True, unbiased=True)
    return mean, torch.sqrt(var + eps)


def normalize_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """Standardise every patch by its own statistics
    (:func:`patch_statistics`): ``(t - mean) / sqrt(var + eps)``.

    Args:
        patches (Tensor): Patch tokens ``(B, N, C * ph * pw)``.
        eps (float): Added to the variance. Defaults to 1e-6.

    Returns:
        Tensor: Standardised patches, same shape.
    """
    mean, std = patch_statistics(patches, eps)
    return (patches - mean) / std
