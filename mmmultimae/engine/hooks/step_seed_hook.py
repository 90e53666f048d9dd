# Copyright (c) mmmultimae contributors. All rights reserved.
"""Re-seed the global RNGs per epoch and per iteration (resumable)."""
import random
from typing import Optional, Union

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmmultimae.registry import HOOKS

_EPOCH, _ITER = 0, 1


def step_seed(base_seed: int, rank: int, kind: int, step: int) -> int:
    """A 63-bit seed derived from ``(base_seed, rank, kind, step)``.

    numpy's ``SeedSequence`` hashes the tuple, so neighbouring steps and
    ranks get unrelated streams.

    Args:
        base_seed (int): The run's seed.
        rank (int): Process rank (0 when ranks share the stream).
        kind (int): 0 for epoch seeds, 1 for iteration seeds.
        step (int): Epoch or iteration index (0-based).

    Returns:
        int: A seed in ``[0, 2**63)``.
    """
    words = np.random.SeedSequence([int(base_seed) % 2**32, rank, kind,
                                    step]).generate_state(
                                        2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


@HOOKS.register_module()
class StepSeedHook(Hook):
    """Make the random stream a function of the training step.

    MultiMAE draws its token masks (and drop-path) from the global torch
    RNG, and the data pipeline draws crops and flips from numpy/python's
    global RNGs when it runs in the main process. mmengine seeds these once
    per run and does not checkpoint them, so a resumed run would continue
    with a different random stream than the uninterrupted run. This hook
    re-seeds them from the run's seed:

    - before every training epoch: torch (CPU and CUDA), numpy and python
      ``random`` from ``(seed, rank, epoch)``, which fixes the main-process
      data pipeline of the epoch;
    - before every training iteration: torch from ``(seed, rank,
      iteration)``, which fixes the masks and drop-path of the step.

    A run resumed from an epoch checkpoint then reproduces the uninterrupted
    run exactly (same masks, augmentations, losses and weights; the data
    order is already a function of ``(seed, epoch)`` through
    ``DefaultSampler`` and ``DistSamplerSeedHook``). The idea of seeding
    each update from ``seed + step`` follows fairseq's trainer.

    Limits: dataloader worker processes seed themselves (mmengine's
    ``worker_init_fn``); with ``persistent_workers=True`` their RNG state
    carries over epochs and is not restored by a resume, so augmentations
    of a resumed run then differ (training is still correct).

    Args:
        diff_rank_seed (bool, optional): Give each rank its own stream. None
            (default) follows the config's ``randomness.diff_rank_seed``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, diff_rank_seed: Optional[bool] = None) -> None:
        self.diff_rank_seed = diff_rank_seed

    def _base(self, runner) -> tuple:
        diff = self.diff_rank_seed
        if diff is None:
            cfg = getattr(runner, 'cfg', None) or {}
            diff = bool((cfg.get('randomness')
                         or {}).get('diff_rank_seed', False))
        seed = runner.seed
        if seed is None:
            raise RuntimeError('StepSeedHook needs the runner seed')
        return int(seed), get_rank() if diff else 0

    def before_train_epoch(self, runner) -> None:
        """Seed torch, numpy and python ``random`` for the epoch."""
        seed, rank = self._base(runner)
        value = step_seed(seed, rank, _EPOCH, runner.epoch)
        torch.manual_seed(value)
        np.random.seed(value % 2**32)
        random.seed(value)

    def before_train_iter(
            self,
            runner,
            batch_idx: int,
            data_batch: Optional[Union[dict, tuple, list]] = None) -> None:
        """Seed torch for the iteration (masks, drop-path)."""
        seed, rank = self._base(runner)
        torch.manual_seed(step_seed(seed, rank, _ITER, runner.iter))
