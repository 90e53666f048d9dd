# Copyright (c) mmmultimae contributors. All rights reserved.
"""Pure drawing functions for masked-reconstruction figures.

Everything here works on numpy arrays (``(H, W, 3)`` uint8 RGB images,
``(H, W)`` float maps, ``(h, w)`` label maps, ``(h, w)`` bool token masks
with True = masked) and knows nothing about models or runners; the
visualisation hook and ``tools/visualize_reconstruction.py`` turn model
outputs into these arrays (:mod:`mmmultimae.apis.reconstruction`).

The figure layout follows the official MultiMAE demo: per modality a
masked input (masked patches greyed out), the prediction with the visible
patches pasted back, and the ground truth.
"""
import colorsys
import math
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Colour of masked patches in the masked-input column.
MASK_COLOR = (220, 220, 220)
#: Background of the figure (gaps, label strips).
BACKGROUND = (255, 255, 255)
#: Gap between tiles, in pixels.
PAD = 4
#: Height of the column-header strip, in pixels.
HEADER_HEIGHT = 20
#: Width of the row-label strip, in pixels.
LABEL_WIDTH = 100
#: Smallest displayed tile side; smaller images are enlarged (nearest).
MIN_TILE_SIZE = 128

# Viridis sampled at 9 evenly spaced stops (the published colour values);
# linear interpolation between them is visually indistinguishable from the
# full 256-entry table.
_VIRIDIS_STOPS = np.array(
    [[68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 145, 140],
     [40, 174, 128], [94, 201, 98], [173, 220, 48], [253, 231, 37]],
    dtype=np.float64)


def _check_hw(array: np.ndarray, name: str, ndim: int) -> None:
    if array.ndim != ndim:
        raise ValueError(f'{name} must have {ndim} dimensions, got shape '
                         f'{array.shape}')


def viridis(values: np.ndarray) -> np.ndarray:
    """Map values in ``[0, 1]`` to viridis RGB colours.

    Args:
        values (np.ndarray): Any shape; clipped to ``[0, 1]``; NaN maps to
            black.

    Returns:
        np.ndarray: uint8 colours of shape ``values.shape + (3,)``.
    """
    values = np.asarray(values, dtype=np.float64)
    nan = ~np.isfinite(values)
    pos = np.clip(np.where(nan, 0., values), 0., 1.) * (
        len(_VIRIDIS_STOPS) - 1)
    low = np.floor(pos).astype(np.int64).clip(0, len(_VIRIDIS_STOPS) - 2)
    frac = (pos - low)[..., None]
    rgb = _VIRIDIS_STOPS[low] * (1 - frac) + _VIRIDIS_STOPS[low + 1] * frac
    rgb[nan] = 0
    return np.round(rgb).astype(np.uint8)


def robust_range(
    values: np.ndarray, percentiles: Tuple[float, float] = (2., 98.)
) -> Tuple[float, float]:
    """Display range of a map from its finite values' percentiles.

    Args:
        values (np.ndarray): Values of any shape.
        percentiles (tuple[float, float]): Lower and upper percentile.

    Returns:
        tuple[float, float]: ``(vmin, vmax)`` with ``vmax > vmin``.
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0., 1.
    vmin, vmax = np.percentile(finite, percentiles)
    if vmax - vmin < 1e-6:
        vmax = vmin + 1e-6
    return float(vmin), float(vmax)


def colorize_depth(depth: np.ndarray,
                   vmin: float,
                   vmax: float,
                   near_bright: bool = True) -> np.ndarray:
    """Colour a depth map with viridis.

    Args:
        depth (np.ndarray): ``(H, W)`` depth (any units, e.g. standardised).
        vmin (float): Value mapped to one end of the colour map.
        vmax (float): Value mapped to the other end.
        near_bright (bool): Small depths (near) get the bright end (yellow),
            far ones the dark end (purple). Defaults to True.

    Returns:
        np.ndarray: uint8 ``(H, W, 3)``.
    """
    _check_hw(depth, 'depth', 2)
    if not vmax > vmin:
        raise ValueError(f'vmax must be larger than vmin, got {vmin}, {vmax}')
    scaled = (np.asarray(depth, dtype=np.float64) - vmin) / (vmax - vmin)
    return viridis(1. - scaled if near_bright else scaled)


def make_palette(num_classes: int) -> np.ndarray:
    """Distinct, deterministic colours for ``num_classes`` classes.

    Hues advance by the golden ratio so neighbouring ids differ strongly;
    saturation and value alternate to separate classes of similar hue when
    there are many (e.g. the 133 COCO panoptic classes).

    Args:
        num_classes (int): Number of classes.

    Returns:
        np.ndarray: uint8 ``(num_classes, 3)``.
    """
    if num_classes < 1:
        raise ValueError(f'num_classes must be >= 1, got {num_classes}')
    colors = []
    for i in range(num_classes):
        hue = (i * 0.6180339887498949) % 1.
        sat = (0.65, 0.95, 0.45)[i % 3]
        val = (0.95, 0.75, 0.55)[(i // 3) % 3]
        colors.append(colorsys.hsv_to_rgb(hue, sat, val))
    return np.round(np.array(colors) * 255).astype(np.uint8)


def colorize_semseg(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Colour a label map; ids outside the palette (ignore) become black.

    Args:
        labels (np.ndarray): Integer ``(h, w)`` class ids.
        palette (np.ndarray): ``(K, 3)`` RGB colours.

    Returns:
        np.ndarray: uint8 ``(h, w, 3)``.
    """
    _check_hw(labels, 'labels', 2)
    palette = np.asarray(palette, dtype=np.uint8)
    if palette.ndim != 2 or palette.shape[1] != 3:
        raise ValueError(f'palette must be (K, 3), got {palette.shape}')
    labels = np.asarray(labels).astype(np.int64)
    valid = (labels >= 0) & (labels < len(palette))
    out = np.zeros(labels.shape + (3, ), dtype=np.uint8)
    out[valid] = palette[labels[valid]]
    return out


def denormalize_rgb(image: np.ndarray, mean: Sequence[float],
                    std: Sequence[float]) -> np.ndarray:
    """Undo per-channel normalisation of an RGB image.

    Args:
        image (np.ndarray): Normalised ``(3, H, W)`` image,
            ``(x - mean) / std`` of a ``[0, 255]`` image.
        mean (Sequence[float]): Per-channel mean (in ``[0, 255]`` units).
        std (Sequence[float]): Per-channel std.

    Returns:
        np.ndarray: uint8 ``(H, W, 3)``.
    """
    _check_hw(image, 'image', 3)
    mean = np.asarray(mean, dtype=np.float64).reshape(-1, 1, 1)
    std = np.asarray(std, dtype=np.float64).reshape(-1, 1, 1)
    if image.shape[0] != mean.shape[0] or mean.shape != std.shape:
        raise ValueError(f'image has {image.shape[0]} channels, mean/std '
                         f'have {mean.shape[0]}/{std.shape[0]} values')
    pixels = image.astype(np.float64) * std + mean
    return np.clip(np.round(pixels), 0,
                   255).astype(np.uint8).transpose(1, 2, 0)


def minmax_image(image: np.ndarray) -> np.ndarray:
    """Show an arbitrary ``(C, H, W)`` map: channels 0..2 (or the single
    channel as grey) scaled to ``[0, 255]`` by their joint range.

    Args:
        image (np.ndarray): ``(C, H, W)`` float map.

    Returns:
        np.ndarray: uint8 ``(H, W, 3)``.
    """
    _check_hw(image, 'image', 3)
    shown = image[:3] if image.shape[0] >= 3 else np.repeat(image[:1], 3, 0)
    vmin, vmax = robust_range(shown, (0., 100.))
    scaled = (shown.astype(np.float64) - vmin) / (vmax - vmin)
    return np.round(np.clip(scaled, 0, 1) * 255).astype(np.uint8).transpose(
        1, 2, 0)


def upsample_mask(mask: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Expand a token mask ``(h, w)`` to pixels ``(H, W)``.

    Args:
        mask (np.ndarray): Bool ``(h, w)``, True = masked.
        size (tuple[int, int]): ``(H, W)``, multiples of ``(h, w)``.

    Returns:
        np.ndarray: Bool ``(H, W)``.
    """
    _check_hw(mask, 'mask', 2)
    (h, w), (height, width) = mask.shape, size
    if height % h or width % w:
        raise ValueError(f'size {size} is not a multiple of the mask grid '
                         f'{(h, w)}')
    return np.kron(
        mask.astype(np.uint8), np.ones((height // h, width // w),
                                       np.uint8)).astype(bool)


def paste_visible(pred: np.ndarray, target: np.ndarray,
                  mask: np.ndarray) -> np.ndarray:
    """Replace the prediction by the target on the visible patches.

    This is what the official demo shows as "predictions": the model's
    output where it had to reconstruct, the input where it could see.

    Args:
        pred (np.ndarray): Prediction ``(..., H, W)``.
        target (np.ndarray): Target of the same shape.
        mask (np.ndarray): Bool token mask ``(h, w)``, True = masked.

    Returns:
        np.ndarray: ``(..., H, W)``.
    """
    if pred.shape != target.shape:
        raise ValueError(f'pred and target shapes differ: {pred.shape} vs '
                         f'{target.shape}')
    pixels = upsample_mask(mask, pred.shape[-2:])
    return np.where(pixels, pred, target)


def mask_image(image: np.ndarray,
               mask: Optional[np.ndarray],
               color: Tuple[int, int, int] = MASK_COLOR) -> np.ndarray:
    """Grey out the masked patches of a displayed image.

    Args:
        image (np.ndarray): uint8 ``(H, W, 3)``.
        mask (np.ndarray, optional): Bool ``(h, w)``, True = masked; None
            masks everything (a modality that is not an input).
        color (tuple[int, int, int]): Fill colour.

    Returns:
        np.ndarray: uint8 ``(H, W, 3)``.
    """
    _check_hw(image, 'image', 3)
    out = image.copy()
    if mask is None:
        out[...] = color
        return out
    out[upsample_mask(mask, image.shape[:2])] = color
    return out


def enlarge(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Resize a displayed image to ``size`` (nearest, no smoothing).

    Args:
        image (np.ndarray): uint8 ``(h, w, 3)``.
        size (tuple[int, int]): ``(H, W)``.

    Returns:
        np.ndarray: uint8 ``(H, W, 3)``.
    """
    if tuple(image.shape[:2]) == tuple(size):
        return image
    return np.asarray(
        Image.fromarray(image).resize((size[1], size[0]), Image.NEAREST))


def tile_size(image_size: Tuple[int, int]) -> Tuple[int, int]:
    """Displayed tile size: the image size enlarged by an integer factor to
    at least :data:`MIN_TILE_SIZE` on its shorter side."""
    factor = max(1, math.ceil(MIN_TILE_SIZE / min(image_size)))
    return image_size[0] * factor, image_size[1] * factor


def grid_size(num_rows: int, num_cols: int,
              tile: Tuple[int, int]) -> Tuple[int, int]:
    """``(height, width)`` of the figure made by :func:`make_grid`."""
    height = HEADER_HEIGHT + num_rows * tile[0] + (num_rows + 1) * PAD
    width = LABEL_WIDTH + num_cols * tile[1] + (num_cols + 1) * PAD
    return height, width


def _font(size: int = 12) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def _fit_text(draw: ImageDraw.ImageDraw, text: str, width: int,
              font: ImageFont.ImageFont) -> str:
    """Shorten ``text`` with an ellipsis until it fits in ``width``."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + '…', font=font) > width:
        text = text[:-1]
    return text + '…'


def make_grid(tiles: Sequence[Sequence[Optional[np.ndarray]]],
              row_labels: Sequence[str],
              col_labels: Sequence[str],
              tile: Optional[Tuple[int, int]] = None,
              title: str = '') -> np.ndarray:
    """Arrange tiles in a labelled grid.

    Args:
        tiles (Sequence[Sequence[np.ndarray | None]]): ``rows x cols``
            uint8 ``(h, w, 3)`` images; None leaves a blank cell. Every
            tile is enlarged (nearest) to ``tile``.
        row_labels (Sequence[str]): One label per row (left strip).
        col_labels (Sequence[str]): One header per column.
        tile (tuple[int, int], optional): Displayed tile size ``(H, W)``;
            defaults to :func:`tile_size` of the first tile.
        title (str): Text of the top-left corner (e.g. the image name).

    Returns:
        np.ndarray: uint8 ``(H, W, 3)`` of size :func:`grid_size`.
    """
    rows = len(tiles)
    cols = len(col_labels)
    if rows == 0 or cols == 0:
        raise ValueError('make_grid needs at least one row and one column')
    if len(row_labels) != rows or any(len(r) != cols for r in tiles):
        raise ValueError(f'tiles must be {len(row_labels)} rows x {cols} '
                         f'columns to match the labels, got '
                         f'{[len(r) for r in tiles]}')
    if tile is None:
        first = next((t for r in tiles for t in r if t is not None), None)
        if first is None:
            raise ValueError('make_grid needs a tile size or a tile')
        tile = tile_size(first.shape[:2])
    height, width = grid_size(rows, cols, tile)
    canvas = Image.new('RGB', (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = _font()
    if title:
        draw.text((PAD, 3),
                  _fit_text(draw, title, LABEL_WIDTH - PAD, font),
                  fill=(0, 0, 0),
                  font=font)
    for c, label in enumerate(col_labels):
        x = LABEL_WIDTH + PAD + c * (tile[1] + PAD)
        text = _fit_text(draw, label, tile[1], font)
        offset = (tile[1] - draw.textlength(text, font=font)) / 2
        draw.text((x + offset, 3), text, fill=(0, 0, 0), font=font)
    for r, label in enumerate(row_labels):
        y = HEADER_HEIGHT + PAD + r * (tile[0] + PAD)
        text = _fit_text(draw, label, LABEL_WIDTH - 2 * PAD, font)
        draw.text((PAD, y + tile[0] / 2 - 6), text, fill=(0, 0, 0), font=font)
        for c in range(cols):
            image = tiles[r][c]
            if image is None:
                continue
            if image.dtype != np.uint8 or image.ndim != 3 or \
                    image.shape[2] != 3:
                raise ValueError(f'tile ({r}, {c}) must be uint8 (h, w, 3), '
                                 f'got {image.dtype} {image.shape}')
            x = LABEL_WIDTH + PAD + c * (tile[1] + PAD)
            canvas.paste(Image.fromarray(enlarge(image, tile)), (x, y))
    return np.asarray(canvas)


def stack_vertically(images: List[np.ndarray]) -> np.ndarray:
    """Stack figures of possibly different widths top to bottom (white
    padding on the right).

    Args:
        images (list[np.ndarray]): uint8 ``(H_i, W_i, 3)`` figures.

    Returns:
        np.ndarray: uint8 ``(sum H_i, max W_i, 3)``.
    """
    if not images:
        raise ValueError('stack_vertically needs at least one image')
    width = max(img.shape[1] for img in images)
    padded = []
    for img in images:
        pad = np.full((img.shape[0], width - img.shape[1], 3),
                      BACKGROUND,
                      dtype=np.uint8)
        padded.append(np.concatenate([img, pad], axis=1))
    return np.concatenate(padded, axis=0)
