# Copyright (c) mmmultimae contributors. All rights reserved.
from .model_conversion import (key_report, load_into_config_model,
                               save_converted)
from .reconstruction import (RowSpec, TileRenderer, build_eval_dataset,
                             eval_pipeline, find_samples, init_pretrain_model,
                             load_batch, masks_from_spec, predict, preprocess,
                             reconstruction_rows, sample_masks, semseg_palette,
                             unwrap_model)

__all__ = [
    'key_report', 'load_into_config_model', 'save_converted', 'RowSpec',
    'TileRenderer', 'build_eval_dataset', 'eval_pipeline', 'find_samples',
    'init_pretrain_model', 'load_batch', 'masks_from_spec', 'predict',
    'preprocess', 'reconstruction_rows', 'sample_masks', 'semseg_palette',
    'unwrap_model'
]
