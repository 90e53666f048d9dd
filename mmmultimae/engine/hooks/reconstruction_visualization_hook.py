# Copyright (c) mmmultimae contributors. All rights reserved.
"""Periodic masked-reconstruction figures during pre-training."""
import os
import os.path as osp
import random
from contextlib import contextmanager
from typing import Iterator, List, Optional, Union

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from PIL import Image

from mmmultimae.apis.reconstruction import (TileRenderer, load_batch, predict,
                                            preprocess, sample_masks,
                                            unwrap_model)
from mmmultimae.registry import HOOKS
from mmmultimae.visualization.reconstruction import make_grid, stack_vertically

#: Column headers of the figure.
COLUMNS = ('masked input', 'prediction', 'ground truth')


@contextmanager
def isolated_rng(seed: int) -> Iterator[None]:
    """Run a block with the CPU torch, numpy and python RNGs seeded to
    ``seed`` and restore their previous states afterwards, so the block
    neither depends on nor changes the training's random stream (CUDA
    generators are not touched)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


@HOOKS.register_module()
class ReconstructionVisualizationHook(Hook):
    """Draw masked inputs, predictions and ground truth every N iterations.

    Before training, ``num_samples`` samples of the training set (the first
    ones, through the training pipeline with a fixed seed) and one set of
    masks (the model's own sampler with a fixed seed) are fixed; every
    ``interval`` iterations, at the first iteration if
    ``draw_before_training`` and at the last, the model predicts them and a
    figure is written to ``work_dir/<out_dir>/iter_<N>.png`` and passed to
    the runner's visualizer (``add_image('reconstruction', ...)``, i.e. the
    configured vis backends: local files, TensorBoard, W&B).

    The figure has, per sample, one row per reconstructed modality and the
    columns masked input (masked patches grey), prediction (visible patches
    pasted back, as in the official demo) and ground truth; depth is
    colour-mapped (near = bright) with the ground truth's 2-98 % range,
    semseg drawn with the dataset's ``semseg_palette`` (or a generated
    one). Only the main process draws; the global RNGs are untouched.

    Args:
        interval (int): Iterations between figures. Defaults to 1000.
        num_samples (int): Samples in the figure. Defaults to 2.
        seed (int): Seed of the sample crops and of the masks.
            Defaults to 0.
        draw_before_training (bool): Also draw at iteration 0 (before the
            first update). Defaults to True.
        out_dir (str): Folder under ``work_dir``. Defaults to ``'vis'``.
    """

    priority = 'LOW'

    def __init__(self,
                 interval: int = 1000,
                 num_samples: int = 2,
                 seed: int = 0,
                 draw_before_training: bool = True,
                 out_dir: str = 'vis') -> None:
        if interval < 1 or num_samples < 1:
            raise ValueError('interval and num_samples must be >= 1, got '
                             f'{interval} and {num_samples}')
        self.interval = interval
        self.num_samples = num_samples
        self.seed = seed
        self.draw_before_training = draw_before_training
        self.out_dir = out_dir
        self._batch: Optional[dict] = None
        self._masks = None
        self._renderer: Optional[TileRenderer] = None
        self.written: List[str] = []

    def before_train(self, runner) -> None:
        """Fix the samples and masks; draw the initial figure."""
        if not is_main_process():
            return
        dataset = runner.train_dataloader.dataset
        count = min(self.num_samples, len(dataset))
        with isolated_rng(self.seed):
            self._batch = load_batch(dataset, range(count))
        self._renderer = TileRenderer(
            runner.model, metainfo=getattr(dataset, 'metainfo', None))
        if self.draw_before_training:
            self._draw(runner, runner.iter)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[Union[dict, tuple, list]] = None,
                         outputs: Optional[dict] = None) -> None:
        """Draw every ``interval`` iterations and at the last one."""
        if not is_main_process() or self._batch is None:
            return
        if self.every_n_train_iters(runner, self.interval) or \
                self.is_last_train_iter(runner):
            self._draw(runner, runner.iter + 1)

    def _draw(self, runner, step: int) -> None:
        model = unwrap_model(runner.model)
        device = next(model.parameters()).device
        if self._masks is None:
            inputs = preprocess(model, self._batch)['inputs']
            self._masks = sample_masks(model, inputs, self.seed)
        masks = {k: v.to(device) for k, v in self._masks.items()}
        inputs, results = predict(model, self._batch, masks)
        image = self.render(inputs, results)
        folder = osp.join(runner.work_dir, self.out_dir)
        os.makedirs(folder, exist_ok=True)
        path = osp.join(folder, f'iter_{step:06d}.png')
        Image.fromarray(image).save(path)
        self.written.append(path)
        runner.visualizer.add_image('reconstruction', image, step=step)
        print_log(f'reconstruction figure: {path}', logger='current')

    def render(self, inputs: dict, results: list) -> np.ndarray:
        """The figure of a predicted batch (one block per sample).

        Args:
            inputs (dict[str, Tensor]): Preprocessed batch (the targets).
            results (list[BaseDataElement]): ``predict`` outputs.

        Returns:
            np.ndarray: uint8 ``(H, W, 3)``.
        """
        blocks = []
        for i, result in enumerate(results):
            tiles = self._renderer.tiles(inputs, result, i)
            labels = [f'#{i} {name}' for name in self._renderer.row_labels]
            blocks.append(make_grid(tiles, labels, COLUMNS))
        return stack_vertically(blocks)
