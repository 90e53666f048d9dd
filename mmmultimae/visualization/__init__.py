# Copyright (c) mmmultimae contributors. All rights reserved.
from .dense import (colorize_dense, dataset_palette, dense_range, input_tiles,
                    prediction_row, target_tiles)
from .reconstruction import (colorize_depth, colorize_semseg, denormalize_rgb,
                             enlarge, grid_size, make_grid, make_palette,
                             mask_image, minmax_image, paste_visible,
                             robust_range, stack_vertically, tile_size,
                             upsample_mask, viridis)

__all__ = [
    'colorize_depth', 'colorize_semseg', 'denormalize_rgb', 'enlarge',
    'grid_size', 'make_grid', 'make_palette', 'mask_image', 'minmax_image',
    'paste_visible', 'robust_range', 'stack_vertically', 'tile_size',
    'upsample_mask', 'viridis', 'colorize_dense', 'dataset_palette',
    'dense_range', 'input_tiles', 'prediction_row', 'target_tiles'
]
