# Copyright (c) mmmultimae contributors. All rights reserved.
"""A tiny model, dataset and hook for runner/launcher tests."""
import os
import os.path as osp

import torch
import torch.nn as nn
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from mmmultimae.registry import DATASETS, HOOKS, MODELS


@MODELS.register_module()
class ToyRegressor(BaseModel):
    """Two-layer MLP fitting a fixed random linear map."""

    def __init__(self,
                 in_dims: int = 8,
                 hidden: int = 16,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.net = nn.Sequential(
            nn.Linear(in_dims, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        pred = self.net(x).squeeze(-1)
        if mode == 'loss':
            target = torch.stack(data_samples) if isinstance(
                data_samples, list) else data_samples
            return dict(loss_mse=(pred - target).pow(2).mean())
        return pred


@DATASETS.register_module()
class ToyRegressionDataset(Dataset):
    """Deterministic samples ``x ~ N(0, 1)``, ``y = w . x``."""

    def __init__(self, length: int = 64, in_dims: int = 8) -> None:
        gen = torch.Generator().manual_seed(1234)
        self.x = torch.randn(length, in_dims, generator=gen)
        self.y = self.x @ torch.randn(in_dims, generator=gen)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: int) -> dict:
        return dict(inputs=self.x[idx], data_samples=self.y[idx])


@HOOKS.register_module()
class SaveRankWeightsHook(Hook):
    """Saves each rank's final parameters to ``work_dir/rank<r>.pth``."""

    def after_run(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model,
                                               'module') else runner.model
        torch.save(model.state_dict(),
                   osp.join(runner.work_dir, f'rank{get_rank()}.pth'))


@HOOKS.register_module()
class KillAtIterHook(Hook):
    """Kills the process (exit code 3) after the iteration given by the
    environment variable ``TOY_KILL_AT_ITER``, emulating a crashed job."""

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        kill_at = int(os.environ.get('TOY_KILL_AT_ITER', '0'))
        if kill_at and runner.iter + 1 == kill_at:
            os._exit(3)
