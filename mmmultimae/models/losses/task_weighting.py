# Copyright (c) mmmultimae contributors. All rights reserved.
"""Weighting of the per-task losses of multi-task pre-training."""
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor, nn

from mmmultimae.registry import MODELS


@MODELS.register_module()
class TaskWeighting(nn.Module):
    """Combine per-task losses with no, fixed or learned weights.

    - ``'none'``: the losses unchanged (official default, equal weights).
    - ``'fixed'``: ``w_t * L_t`` with the given ``weights``.
    - ``'uncertainty'``: homoscedastic uncertainty weighting (Kendall et
      al.), ``exp(-s_t) * L_t + s_t`` with a learnable log-variance ``s_t``
      per task (``log_vars``, initialised at 0); a task whose loss is exactly
      0 (no masked token in the batch) contributes 0, as official MultiMAE.
      Official MultiMAE builds it from ``out_domains`` and misaligns it when
      the ``norm_rgb`` decoder is present; here every task is named.

    Args:
        mode (str): ``'none'``, ``'fixed'`` or ``'uncertainty'``. Defaults to
            ``'none'``.
        weights (dict[str, float], optional): Weight of every task, for
            ``'fixed'``.
        modalities (Sequence[str], optional): Task names, needed for
            ``'uncertainty'`` (one log-variance each); defaults to the keys
            of ``weights``.
    """

    MODES = ('none', 'fixed', 'uncertainty')

    def __init__(self,
                 mode: str = 'none',
                 weights: Optional[Dict[str, float]] = None,
                 modalities: Optional[Sequence[str]] = None) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, got '
                             f'{mode!r}')
        if mode == 'fixed' and not weights:
            raise ValueError("mode='fixed' needs weights={task: weight}")
        if mode != 'fixed' and weights:
            raise ValueError(f"weights are only used with mode='fixed', got "
                             f'mode={mode!r}')
        if modalities is None:
            modalities = list(weights) if weights else []
        if weights and set(weights) != set(modalities):
            raise ValueError(f'weights name the tasks {sorted(weights)} but '
                             f'modalities are {sorted(modalities)}')
        if mode == 'uncertainty' and not modalities:
            raise ValueError("mode='uncertainty' needs the task names "
                             '(modalities=[...])')
        self.mode = mode
        self.modalities = list(modalities)
        self.weights = dict(weights) if weights else {}
        if mode == 'uncertainty':
            self.log_vars = nn.Parameter(torch.zeros(len(self.modalities)))

    def forward(self, losses: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Weight the losses.

        Args:
            losses (dict[str, Tensor]): Scalar loss of every task.

        Returns:
            dict[str, Tensor]: Weighted losses, same keys.
        """
        if self.mode == 'none':
            return dict(losses)
        unknown = [k for k in losses if k not in self.modalities]
        if unknown:
            raise KeyError(f'TaskWeighting got losses of unknown tasks '
                           f'{unknown}; known tasks: {self.modalities}')
        if self.mode == 'fixed':
            return {k: v * self.weights[k] for k, v in losses.items()}
        out = {}
        for name, loss in losses.items():
            s = self.log_vars[self.modalities.index(name)]
            weighted = torch.exp(-s) * loss + s
            out[name] = torch.where(loss == 0, torch.zeros_like(weighted),
                                    weighted)
        return out

    def extra_repr(self) -> str:
        return (f'mode={self.mode!r}, modalities={self.modalities}, '
                f'weights={self.weights}')
