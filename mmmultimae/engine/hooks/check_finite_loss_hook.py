# Copyright (c) mmmultimae contributors. All rights reserved.
"""Stop training on a non-finite loss, naming the step and the loss."""
import math
from typing import Dict, Optional, Union

import torch
from mmengine.hooks import Hook
from torch import Tensor

from mmmultimae.registry import HOOKS


def non_finite_losses(log_vars: Dict[str, Union[Tensor, float]],
                      key_filter: str = 'loss') -> Dict[str, float]:
    """The entries of ``log_vars`` whose value is NaN or infinite.

    All values are checked with one host synchronisation (stacked first);
    the offending ones are then looked up.

    Args:
        log_vars (dict[str, Tensor | float]): What ``train_step`` returns,
            e.g. ``{'loss': ..., 'loss_rgb': ..., 'loss_depth': ...}``.
        key_filter (str): Only keys containing this string are checked.

    Returns:
        dict[str, float]: Offending keys and their values, in input order.
    """
    items = [(k, v) for k, v in log_vars.items() if key_filter in k]
    if not items:
        return {}
    values = torch.stack([
        torch.as_tensor(v).detach().float().reshape(()).cpu() for _, v in items
    ])
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return {}
    return {
        key: float(values[i])
        for i, (key, _) in enumerate(items) if not bool(finite[i])
    }


@HOOKS.register_module()
class CheckFiniteLossHook(Hook):
    """Raise ``FloatingPointError`` when a training loss is NaN or inf.

    After each training iteration (every ``interval`` iterations) the
    logged losses are checked; a non-finite value stops the run with an
    error naming the iteration (1-based, as in the log lines), the epoch
    and each offending loss, e.g. ``loss_depth=nan`` (the decoder/modality
    ``depth``). Official MultiMAE exits on a non-finite loss too, without
    saying which task diverged.

    The optimizer step of the failing iteration has already run when the
    hook sees its losses, so the in-memory weights may be corrupt; the
    checkpoints written before are not touched (resume from the last one,
    e.g. with a lower learning rate or gradient clipping).

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.
        key_filter (str): Keys of the logged variables to check.
            Defaults to ``'loss'`` (every loss term and the total).
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1, key_filter: str = 'loss') -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.interval = interval
        self.key_filter = key_filter

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[Union[dict, tuple, list]] = None,
                         outputs: Optional[dict] = None) -> None:
        """Check the losses of the iteration that just ran."""
        if outputs is None or not self.every_n_train_iters(
                runner, self.interval):
            return
        bad = non_finite_losses(outputs, self.key_filter)
        if not bad:
            return
        raise FloatingPointError(
            format_non_finite(bad, runner.iter + 1, runner.epoch + 1,
                              runner.max_iters))


def format_non_finite(bad: Dict[str, float],
                      iteration: int,
                      epoch: int,
                      max_iters: Optional[int] = None) -> str:
    """The error message of :class:`CheckFiniteLossHook`.

    Args:
        bad (dict[str, float]): Offending losses.
        iteration (int): 1-based iteration.
        epoch (int): 1-based epoch.
        max_iters (int, optional): Total iterations.

    Returns:
        str: The message.
    """
    terms = ', '.join(f'{k}={_fmt(v)}' for k, v in bad.items())
    parts = [k[len('loss_'):] for k in bad if k.startswith('loss_')]
    where = f'iteration {iteration}' + (f'/{max_iters}' if max_iters else '')
    message = f'Non-finite loss at {where} (epoch {epoch}): {terms}.'
    if parts:
        message += (' Diverged term(s): ' + ', '.join(repr(p)
                                                      for p in parts) + '.')
    return message + (' Training stopped; resume from the last checkpoint '
                      '(e.g. with a lower lr or optim_wrapper.clip_grad).')


def _fmt(value: float) -> str:
    if math.isnan(value):
        return 'nan'
    return 'inf' if value > 0 else '-inf'
