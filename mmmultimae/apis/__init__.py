# Copyright (c) mmmultimae contributors. All rights reserved.
from .inference import (MultiMAEInferencer, collect_inputs, model_kind,
                        parse_input_group, prediction_arrays, save_label_png,
                        save_predictions)
from .model_conversion import (key_report, load_into_config_model,
                               save_converted)
from .reconstruction import (RowSpec, TileRenderer, build_eval_dataset,
                             eval_pipeline, find_samples, init_pretrain_model,
                             load_batch, masks_from_spec, parse_mask_spec,
                             predict, preprocess, reconstruction_rows,
                             sample_masks, semseg_palette, unwrap_model)
from .reconstruction_eval import (evaluate_batch, fit_constants, fixed_masks,
                                  reconstruction_eval_keys)

__all__ = [
    'MultiMAEInferencer', 'collect_inputs', 'model_kind', 'parse_input_group',
    'prediction_arrays', 'save_label_png', 'save_predictions',
    'parse_mask_spec', 'key_report', 'load_into_config_model',
    'save_converted', 'RowSpec', 'TileRenderer', 'build_eval_dataset',
    'eval_pipeline', 'find_samples', 'init_pretrain_model', 'load_batch',
    'masks_from_spec', 'predict', 'preprocess', 'reconstruction_rows',
    'sample_masks', 'semseg_palette', 'unwrap_model', 'evaluate_batch',
    'fit_constants', 'fixed_masks', 'reconstruction_eval_keys'
]
