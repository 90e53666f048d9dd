# Copyright (c) mmmultimae contributors. All rights reserved.
"""File encodings of the synthetic scenes' depth, normals and labels."""
from typing import Sequence

import numpy as np
from PIL import Image

from .metainfo import DEPTH_PNG_MAX_M, PALETTE


def encode_depth(depth: np.ndarray) -> np.ndarray:
    """Metres -> uint16 Omnidata code ``round(depth / 128 * 2**16)``.

    Raises:
        ValueError: If the depth is non-finite, negative or >= 128 m.
    """
    if not np.isfinite(depth).all():
        raise ValueError('depth has non-finite values')
    if depth.min() < 0 or depth.max() >= DEPTH_PNG_MAX_M:
        raise ValueError(
            f'depth range [{depth.min()}, {depth.max()}] m is outside the '
            f'16-bit encoding range [0, {DEPTH_PNG_MAX_M}) m')
    code = np.rint(depth.astype(np.float64) * (2**16 / DEPTH_PNG_MAX_M))
    return np.minimum(code, 2**16 - 1).astype(np.uint16)


def decode_depth(code: np.ndarray) -> np.ndarray:
    """uint16 Omnidata code -> metres (float32)."""
    return code.astype(np.float32) * np.float32(DEPTH_PNG_MAX_M / 2**16)


def encode_normals(normal: np.ndarray) -> np.ndarray:
    """Unit normals ``(..., 3)`` -> uint8 ``round((n + 1) / 2 * 255)``."""
    return np.rint((np.clip(normal, -1, 1) + 1) * 127.5).astype(np.uint8)


def decode_normals(code: np.ndarray) -> np.ndarray:
    """uint8 normal code ``(..., 3)`` -> unit float32 normals.

    Vectors are renormalised (quantisation and interpolation shorten them).
    """
    normal = code.astype(np.float32) / 127.5 - 1
    norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    return normal / np.maximum(norm, 1e-6)


def palette_image(semseg: np.ndarray,
                  palette: Sequence[Sequence[int]] = PALETTE) -> Image.Image:
    """uint8 class ids ``(H, W)`` -> palette (``'P'``) PIL image coloured
    with ``palette`` (``(K, 3)``, K <= 256; default the scenes' classes).

    The palette always has 256 entries (unused ones black): PIL sizes the
    PNG bit depth from the palette length, and a short or missing palette
    can corrupt larger ids when saving.
    """
    img = Image.fromarray(semseg.astype(np.uint8), mode='P')
    colors = [int(c) for color in palette for c in color]
    img.putpalette(colors + [0] * (768 - len(colors)))
    return img
