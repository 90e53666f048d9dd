# Copyright (c) mmmultimae contributors. All rights reserved.
from .inference import (RowSpec, TileRenderer, build_eval_dataset,
                        denormalize_patches, eval_pipeline, find_samples,
                        init_pretrain_model, load_batch, masks_from_spec,
                        parse_mask_spec, predict, preprocess,
                        reconstruction_rows, sample_masks, semseg_palette,
                        token_layout, unwrap_model)
from .reconstruction import (colorize_depth, colorize_semseg, denormalize_rgb,
                             enlarge, grid_size, make_grid, make_palette,
                             mask_image, minmax_image, paste_visible,
                             robust_range, stack_vertically, tile_size,
                             upsample_mask, viridis)

__all__ = [
    'RowSpec', 'TileRenderer', 'build_eval_dataset', 'denormalize_patches',
    'eval_pipeline', 'find_samples', 'init_pretrain_model', 'load_batch',
    'masks_from_spec', 'parse_mask_spec', 'predict', 'preprocess',
    'reconstruction_rows', 'sample_masks', 'semseg_palette', 'token_layout',
    'unwrap_model', 'colorize_depth', 'colorize_semseg', 'denormalize_rgb',
    'enlarge', 'grid_size', 'make_grid', 'make_palette', 'mask_image',
    'minmax_image', 'paste_visible', 'robust_range', 'stack_vertically',
    'tile_size', 'upsample_mask', 'viridis'
]
