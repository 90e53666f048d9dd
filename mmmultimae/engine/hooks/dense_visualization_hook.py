# Copyright (c) mmmultimae contributors. All rights reserved.
"""Figures of dense-transfer predictions during validation and testing."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop, Runner
from PIL import Image

from mmmultimae.registry import HOOKS
from mmmultimae.visualization.dense import (dataset_palette, prediction_row,
                                            sample_stem)
from mmmultimae.visualization.reconstruction import make_grid, stack_vertically

#: Prediction fields drawn, with their ground truth: mmseg's segmentors
#: fill ``pred_sem_seg``, depth estimators (any dense regression)
#: ``pred_depth_map``.
TARGET_FIELDS = (('pred_sem_seg', 'gt_sem_seg'), ('pred_depth_map',
                                                  'gt_depth_map'))


def _numpy(value) -> np.ndarray:
    """A tensor (any device, any dtype) or array as a numpy array (float
    tensors as float32: numpy has no bfloat16)."""
    if hasattr(value, 'detach'):
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()
        value = value.numpy()
    return np.asarray(value)


@HOOKS.register_module()
class DenseVisualizationHook(Hook):
    """Draw inputs, ground truth and prediction of a dense transfer model
    every ``interval`` validation / test iterations.

    The idea of mmseg's ``SegVisualizationHook`` (``draw``, ``interval``,
    ``default_hooks.visualization`` switched on by ``tools/test.py
    --show-dir``) for our multi-modal segmentors (``pred_sem_seg``) and
    depth / dense regression models (``pred_depth_map`` of any number of
    channels). Written here because mmseg's hook reads one image file per
    sample and its visualiser draws one rgb image, not a dict of
    modalities nor depth.

    For every sample of a drawn batch, one row: the input modalities the
    model reads (from the packed batch the hook receives, before the data
    preprocessor: uint8 rgb, depth in metres; a model without
    ``select_inputs`` gets every packed input drawn), the ground truth
    when the sample has one, and the prediction, drawn by
    :func:`mmmultimae.visualization.dense.prediction_row` (label maps with
    the dataset's ``palette``, depth and other regression maps with the
    ground truth's 2-98 % range, invalid pixels black). The figure goes to
    ``<work_dir>/<out_dir>/<val_iter_N | test>/<stem>.png`` and to the
    runner visualizer's backends (``add_image('<val|test>_<stem>', ...,
    step=runner.iter)``: local files, TensorBoard, W&B). Only the main
    process draws (its shard of the data).

    Args:
        draw (bool): Draw at all; the configs keep it off (mmseg's
            default) and ``tools/test.py --show-dir`` turns it on.
            Defaults to False.
        interval (int): Draw batches ``interval - 1``, ``2 * interval -
            1``, ... of every validation / test run. Defaults to 50.
        out_dir (str): Folder of the figures, under ``work_dir`` unless
            absolute. Defaults to ``'vis_predictions'``.
    """

    priority = 'LOW'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 out_dir: str = 'vis_predictions') -> None:
        if not isinstance(draw, bool):
            raise TypeError(f'draw must be a bool, got {draw!r}')
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'interval must be an int >= 1, got {interval!r}')
        self.draw = draw
        self.interval = interval
        self.out_dir = out_dir
        self._metainfo: Dict[str, Optional[dict]] = {}
        self.written: List[str] = []

    def before_val(self, runner) -> None:
        self._metainfo['val'] = self._dataset_metainfo(runner.val_loop)

    def before_test(self, runner) -> None:
        self._metainfo['test'] = self._dataset_metainfo(runner.test_loop)

    @staticmethod
    def _dataset_metainfo(loop) -> Optional[dict]:
        dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
        return getattr(dataset, 'metainfo', None)

    def _after_iter(self,
                    runner,
                    batch_idx: int,
                    data_batch=None,
                    outputs: Optional[Sequence] = None,
                    mode: str = 'train') -> None:
        if not self.draw or mode == 'train' or not is_main_process():
            return
        if not self.every_n_inner_iters(batch_idx, self.interval):
            return
        step = self._train_iter(runner)
        folder = f'val_iter_{step:06d}' if mode == 'val' else mode
        folder = osp.join(runner.work_dir, self.out_dir, folder)
        metainfo = self._metainfo.get(mode)
        inputs = self.model_inputs(runner.model, data_batch)
        for i, output in enumerate(outputs or ()):
            stem = sample_stem(output.metainfo, f'{batch_idx:06d}_{i}')
            image = self.render(
                {name: _numpy(value[i])
                 for name, value in inputs.items()}, output, metainfo, stem)
            os.makedirs(folder, exist_ok=True)
            path = osp.join(folder, f'{stem}.png')
            Image.fromarray(image).save(path)
            self.written.append(path)
            runner.visualizer.add_image(
                f'{mode}_{stem}', image, step=step)

    @staticmethod
    def _train_iter(runner) -> int:
        """The training iteration, 0 in a run without training.

        ``runner.iter`` would build the train loop, and with it the training
        set, which a test-only run (``tools/test.py``) may not have.
        """
        if isinstance(runner, Runner) and not isinstance(
                runner._train_loop, BaseLoop):
            return 0
        return runner.iter

    @staticmethod
    def model_inputs(model, data_batch) -> dict:
        """The packed input modalities of ``data_batch`` the model reads
        (its ``select_inputs``), each a list or stacked tensor over the
        batch."""
        inputs = data_batch.get('inputs') if isinstance(data_batch,
                                                        dict) else None
        if not isinstance(inputs, dict):
            raise KeyError(
                'DenseVisualizationHook draws dict(inputs={modality: ...}) '
                'batches (PackMultiModalSegInputs); got '
                f'{type(data_batch).__name__} with keys '
                f'{list(data_batch) if isinstance(data_batch, dict) else []}')
        if is_model_wrapper(model):
            model = model.module
        if hasattr(model, 'select_inputs'):
            inputs = model.select_inputs(inputs)
        return inputs

    @staticmethod
    def render(inputs: dict,
               output,
               metainfo: Optional[dict] = None,
               title: str = '') -> np.ndarray:
        """The figure of one sample.

        Args:
            inputs (dict[str, np.ndarray]): Packed input modalities of the
                sample (see :func:`~mmmultimae.visualization.dense.
                input_tiles`).
            output (SegDataSample): The model's prediction, with
                ``pred_sem_seg`` and / or ``pred_depth_map`` and the ground
                truth (``gt_sem_seg``, ``gt_depth_map``,
                ``gt_valid_mask``) when the sample has it.
            metainfo (dict, optional): The dataset's metainfo (``palette``
                or ``classes`` for segmentation).
            title (str): Row label.

        Returns:
            np.ndarray: uint8 ``(H, W, 3)``: one grid row (inputs, ground
            truth, prediction) per prediction field, stacked.
        """
        grids = []
        for field, gt_field in TARGET_FIELDS:
            if field not in output:
                continue
            palette = dataset_palette(metainfo) \
                if field == 'pred_sem_seg' else None
            ground_truth = _numpy(output.get(gt_field).data) \
                if gt_field in output else None
            valid = _numpy(output.gt_valid_mask.data) \
                if 'gt_valid_mask' in output else None
            labels, tiles = prediction_row(
                inputs, {'prediction': _numpy(output.get(field).data)},
                ground_truth, valid, palette)
            grids.append(make_grid([tiles], [title], labels))
        if not grids:
            raise KeyError(
                'DenseVisualizationHook draws the model outputs\' '
                f'{" or ".join(f for f, _ in TARGET_FIELDS)}; the output '
                f'holds {sorted(output.keys())}')
        return stack_vertically(grids)
