# Copyright (c) mmmultimae contributors. All rights reserved.
"""Drawing functions of the reconstruction figures."""
import numpy as np
import pytest

from mmmultimae.visualization import (colorize_depth, colorize_semseg,
                                      denormalize_rgb, grid_size, make_grid,
                                      make_palette, mask_image, paste_visible,
                                      upsample_mask, viridis)
from mmmultimae.visualization.reconstruction import (HEADER_HEIGHT,
                                                     LABEL_WIDTH, MASK_COLOR,
                                                     PAD)


def test_colour_maps():
    assert viridis(np.array([0.]))[0].tolist() == [68, 1, 84]
    assert viridis(np.array([1.]))[0].tolist() == [253, 231, 37]
    assert viridis(np.array([np.nan]))[0].tolist() == [0, 0, 0]
    depth = np.array([[1., 2.], [3., 5.]])
    img = colorize_depth(depth, 1., 5.)
    assert img.shape == (2, 2, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == [253, 231, 37]  # near = bright
    assert img[1, 1].tolist() == [68, 1, 84]
    with pytest.raises(ValueError, match='vmax'):
        colorize_depth(depth, 2., 2.)
    palette = make_palette(133)
    assert palette.shape == (133, 3)
    assert len({tuple(c) for c in palette.tolist()}) == 133
    labels = np.array([[0, 1], [132, 255]])
    out = colorize_semseg(labels, palette)
    assert out[0, 1].tolist() == palette[1].tolist()
    assert out[1, 1].tolist() == [0, 0, 0]  # ignore id


def test_rgb_round_trip_and_masks():
    mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 3))
    norm = (pixels.transpose(2, 0, 1) - np.reshape(mean, (3, 1, 1))) / \
        np.reshape(std, (3, 1, 1))
    assert np.array_equal(denormalize_rgb(norm, mean, std), pixels)

    mask = np.array([[True, False], [False, True]])
    big = upsample_mask(mask, (8, 8))
    assert big.shape == (8, 8) and big[:4, :4].all() and not big[:4, 4:].any()
    with pytest.raises(ValueError, match='multiple'):
        upsample_mask(mask, (7, 8))
    pred, target = np.zeros((1, 8, 8)), np.ones((1, 8, 8))
    pasted = paste_visible(pred, target, mask)
    assert (pasted[0][big] == 0).all() and (pasted[0][~big] == 1).all()
    image = np.full((8, 8, 3), 7, np.uint8)
    masked = mask_image(image, mask)
    assert (masked[big] == MASK_COLOR).all() and (masked[~big] == 7).all()
    assert (mask_image(image, None) == MASK_COLOR).all()


def test_make_grid_places_tiles():
    tiles = [[
        np.full((4, 4, 3), 10 * (r * 2 + c), np.uint8) for c in range(2)
    ] for r in range(3)]
    tiles[1][0] = None
    grid = make_grid(
        tiles, ['a', 'b', 'c'], ['x', 'y'], tile=(8, 8), title='img')
    assert grid.shape[:2] == grid_size(3, 2, (8, 8))
    for r in range(3):
        for c in range(2):
            y = HEADER_HEIGHT + PAD + r * (8 + PAD)
            x = LABEL_WIDTH + PAD + c * (8 + PAD)
            cell = grid[y:y + 8, x:x + 8]
            expected = 255 if (r, c) == (1, 0) else 10 * (r * 2 + c)
            assert (cell == expected).all(), (r, c)
    with pytest.raises(ValueError, match='rows x 2 columns'):
        make_grid(tiles, ['a', 'b'], ['x', 'y'])
