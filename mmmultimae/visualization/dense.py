# Copyright (c) mmmultimae contributors. All rights reserved.
"""Pure drawing functions for dense-transfer figures (segmentation, depth,
any dense regression): inputs, ground truth and predictions side by side.

Everything here works on numpy arrays as the transfer pipelines pack them
(``PackMultiModalSegInputs``): inputs ``(C, H, W)`` (uint8 rgb, float
depth in metres or any float map) or ``(h, w)`` integer label maps, label
targets / predictions ``(1, H, W)`` integer, regression targets /
predictions ``(C, H, W)`` float, valid masks ``(1, H, W)`` bool. The
transfer visualisation hook and ``apis/transfer.py`` (the figure of
``tools/analysis_tools/compare_transfers.py``) turn model outputs into
these arrays and draw them with :func:`prediction_row` and
:func:`~mmmultimae.visualization.reconstruction.make_grid`.

Colours: rgb as is; label maps with a palette (ids outside it, e.g. the
ignore index, black); one-channel maps with viridis (near = bright) over a
2-98 % range; three-channel maps (e.g. surface normals) as an RGB image
over their joint 2-98 % range; any other channel count one viridis tile per
channel. Invalid target pixels are black. Predictions share the ground
truth's range, so that they compare.
"""
import os.path as osp
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from .reconstruction import (colorize_depth, colorize_semseg, make_palette,
                             robust_range)

Tiles = Tuple[List[str], List[np.ndarray]]


def dataset_palette(metainfo: Optional[Mapping]) -> np.ndarray:
    """Class colours of a segmentation dataset.

    Args:
        metainfo (Mapping, optional): The dataset's metainfo (mmseg keys
            ``classes`` and ``palette``).

    Returns:
        np.ndarray: uint8 ``(K, 3)``: ``palette`` when given (it must
        colour every class), else :func:`make_palette` of the classes.

    Raises:
        KeyError: The metainfo has neither ``palette`` nor ``classes``.
        ValueError: The palette is not ``(K, 3)`` or has fewer colours
            than classes.
    """
    metainfo = metainfo or {}
    classes = metainfo.get('classes')
    palette = metainfo.get('palette')
    if palette is None:
        if classes is None:
            raise KeyError('drawing segmentation needs the dataset metainfo '
                           "'palette' or 'classes'; it has "
                           f'{sorted(metainfo)}')
        return make_palette(len(classes))
    palette = np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] != 3:
        raise ValueError('metainfo palette must be (K, 3) RGB colours, got '
                         f'shape {palette.shape}')
    if classes is not None and len(palette) < len(classes):
        raise ValueError(f'metainfo palette has {len(palette)} colours for '
                         f'{len(classes)} classes')
    return palette.astype(np.uint8)


def sample_stem(metainfo: dict, default: str) -> str:
    """File stem of a sample: its rgb path's (or its first modality's, for
    a dict of paths) without folder and extension; ``default`` without
    ``img_path``."""
    path = metainfo.get('img_path')
    if isinstance(path, dict):
        path = path.get('rgb', next(iter(path.values()), None))
    if not path:
        return default
    return osp.splitext(osp.basename(str(path)))[0]


def _check_chw(array: np.ndarray, name: str) -> None:
    if array.ndim != 3:
        raise ValueError(f'{name} must be (C, H, W), got shape {array.shape}')


def dense_range(values: np.ndarray,
                valid: Optional[np.ndarray] = None) -> Tuple[float, float]:
    """2-98 % range of a ``(C, H, W)`` map over its valid pixels (all
    channels together).

    Args:
        values (np.ndarray): ``(C, H, W)`` float map.
        valid (np.ndarray, optional): Bool ``(1, H, W)`` or ``(H, W)``.

    Returns:
        tuple[float, float]: ``(vmin, vmax)``.
    """
    _check_chw(values, 'values')
    values = values.astype(np.float64)
    if valid is not None:
        valid = np.broadcast_to(np.asarray(valid, bool).reshape(
            (1, ) + values.shape[-2:]), values.shape)
        values = np.where(valid, values, np.nan)
    return robust_range(values)


def colorize_dense(values: np.ndarray,
                   vmin: float,
                   vmax: float,
                   valid: Optional[np.ndarray] = None) -> List[np.ndarray]:
    """Colour a dense ``(C, H, W)`` map: one tile for one or three
    channels, one tile per channel otherwise.

    Args:
        values (np.ndarray): ``(C, H, W)`` float map.
        vmin (float): Value of the dark end (far for one channel; 0 for
            three channels).
        vmax (float): Value of the bright end (near; 255).
        valid (np.ndarray, optional): Bool ``(1, H, W)`` or ``(H, W)``;
            invalid pixels are black.

    Returns:
        list[np.ndarray]: uint8 ``(H, W, 3)`` tiles.
    """
    _check_chw(values, 'values')
    values = values.astype(np.float64)
    invalid = None
    if valid is not None:
        invalid = ~np.asarray(valid, bool).reshape(values.shape[-2:])
    if values.shape[0] == 3:
        if not vmax > vmin:
            raise ValueError(f'vmax must be larger than vmin, got {vmin}, '
                             f'{vmax}')
        scaled = np.clip((values - vmin) / (vmax - vmin), 0., 1.)
        image = np.round(scaled * 255).astype(np.uint8).transpose(1, 2, 0)
        if invalid is not None:
            image[invalid] = 0
        return [image]
    if invalid is not None:
        values = np.where(invalid[None], np.nan, values)
    return [colorize_depth(channel, vmin, vmax) for channel in values]


def dense_labels(name: str, num_channels: int) -> List[str]:
    """Column labels of :func:`colorize_dense`'s tiles."""
    if num_channels in (1, 3):
        return [name]
    return [f'{name} [{c}]' for c in range(num_channels)]


def input_tiles(name: str,
                value: np.ndarray,
                palette: Optional[np.ndarray] = None) -> Tiles:
    """Tiles of one packed input modality.

    Args:
        name (str): Modality name (the column label).
        value (np.ndarray): uint8 ``(3, H, W)`` rgb (drawn as is), integer
            ``(h, w)`` label map (drawn with ``palette`` when it covers
            the ids, else with :func:`make_palette`) or a ``(C, H, W)`` map
            (depth, ...: :func:`colorize_dense` over its own range).
        palette (np.ndarray, optional): ``(K, 3)`` class colours.

    Returns:
        tuple[list[str], list[np.ndarray]]: Column labels and uint8
        ``(H, W, 3)`` tiles.
    """
    value = np.asarray(value)
    if value.dtype == np.uint8 and value.ndim == 3 and value.shape[0] == 3:
        return [name], [value.transpose(1, 2, 0)]
    if np.issubdtype(value.dtype, np.integer) and value.ndim == 2:
        top = int(value.max()) if value.size else 0
        if palette is None or len(palette) <= top:
            palette = make_palette(top + 1)
        return [name], [colorize_semseg(value, palette)]
    if value.ndim == 2:
        value = value[None]
    _check_chw(value, f'input {name!r}')
    tiles = colorize_dense(value, *dense_range(value))
    return dense_labels(name, value.shape[0]), tiles


def target_tiles(predictions: Mapping[str, np.ndarray],
                 ground_truth: Optional[np.ndarray] = None,
                 valid: Optional[np.ndarray] = None,
                 palette: Optional[np.ndarray] = None) -> Tiles:
    """Tiles of the ground truth and of one or more predictions of it.

    Integer maps are label maps (drawn with ``palette``); float maps are
    regression maps (:func:`colorize_dense`), all drawn with the ground
    truth's valid 2-98 % range (the first prediction's without one).

    Args:
        predictions (Mapping[str, np.ndarray]): Column label -> ``(1, H,
            W)`` integer or ``(C, H, W)`` float prediction.
        ground_truth (np.ndarray, optional): Same kind and channels.
        valid (np.ndarray, optional): Bool ``(1, H, W)`` valid pixels of
            the ground truth (invalid ones black).
        palette (np.ndarray, optional): ``(K, 3)`` class colours; needed
            for label maps.

    Returns:
        tuple[list[str], list[np.ndarray]]: Column labels (``ground
        truth`` first when given) and uint8 ``(H, W, 3)`` tiles.
    """
    if not predictions:
        raise ValueError('target_tiles needs at least one prediction')
    maps: Dict[str, np.ndarray] = {}
    if ground_truth is not None:
        maps['ground truth'] = np.asarray(ground_truth)
    for label, pred in predictions.items():
        maps[label] = np.asarray(pred)
    for label, value in maps.items():
        _check_chw(value, label)
    first = next(iter(maps.values()))
    labels_kind = np.issubdtype(first.dtype, np.integer)
    for label, value in maps.items():
        if np.issubdtype(value.dtype, np.integer) != labels_kind or \
                value.shape[0] != first.shape[0]:
            raise ValueError(
                f'{label} is {value.dtype} {value.shape}, the '
                f'{next(iter(maps))} {first.dtype} {first.shape}: '
                'predictions and ground truth must be the same kind')
    labels: List[str] = []
    tiles: List[np.ndarray] = []
    if labels_kind:
        if palette is None:
            raise ValueError('label maps need a palette')
        for label, value in maps.items():
            if value.shape[0] != 1:
                raise ValueError(f'{label} label map must be (1, H, W), got '
                                 f'{value.shape}')
            labels.append(label)
            tiles.append(colorize_semseg(value[0], palette))
        return labels, tiles
    if ground_truth is not None:
        vmin, vmax = dense_range(maps['ground truth'], valid)
    else:
        vmin, vmax = dense_range(first)
    for label, value in maps.items():
        mask = valid if label == 'ground truth' else None
        labels += dense_labels(label, value.shape[0])
        tiles += colorize_dense(value, vmin, vmax, mask)
    return labels, tiles


def prediction_row(inputs: Mapping[str, np.ndarray],
                   predictions: Mapping[str, np.ndarray],
                   ground_truth: Optional[np.ndarray] = None,
                   valid: Optional[np.ndarray] = None,
                   palette: Optional[np.ndarray] = None) -> Tiles:
    """One figure row of a dense transfer: the inputs
    (:func:`input_tiles`), then the ground truth and the predictions
    (:func:`target_tiles`).

    Args:
        inputs (Mapping[str, np.ndarray]): Packed input modalities.
        predictions (Mapping[str, np.ndarray]): Column label ->
            prediction.
        ground_truth (np.ndarray, optional): Target of the predictions.
        valid (np.ndarray, optional): Valid pixels of the ground truth.
        palette (np.ndarray, optional): Class colours of the targets.

    Returns:
        tuple[list[str], list[np.ndarray]]: Column labels and tiles, for
        :func:`~mmmultimae.visualization.reconstruction.make_grid`.
    """
    labels: List[str] = []
    tiles: List[np.ndarray] = []
    for name, value in inputs.items():
        names, images = input_tiles(name, value, palette)
        labels += names
        tiles += images
    names, images = target_tiles(predictions, ground_truth, valid, palette)
    return labels + names, tiles + images
