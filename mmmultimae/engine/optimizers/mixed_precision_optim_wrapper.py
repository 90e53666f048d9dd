# Copyright (c) mmmultimae contributors. All rights reserved.
"""Mixed-precision optimizer wrapper without needless loss scaling."""
from contextlib import contextmanager
from typing import Union

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mmmultimae.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class MixedPrecisionOptimWrapper(OptimWrapper):
    """Autocast training in bf16 or fp16.

    mmengine's ``AmpOptimWrapper`` (0.10.7) always runs a ``GradScaler``,
    also for bf16, where loss scaling is pointless: the scaler's inf check
    then syncs the host every step and adds unscale kernels. It also uses
    the deprecated ``torch.cuda.amp`` API (FutureWarnings on torch >= 2.4)
    and supports CUDA only. This wrapper autocasts with an explicit dtype on
    the parameters' device type; bf16 steps are plain backward/step, fp16
    steps use ``torch.amp.GradScaler`` (dynamic scaling), whose state is
    checkpointed as ``loss_scaler`` like mmengine's.

    Args:
        dtype (str | torch.dtype): ``'bfloat16'`` or ``'float16'``.
            Defaults to ``'bfloat16'``.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``clip_grad``,
            ``accumulative_counts``).
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype] = 'bfloat16',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(dtype, str):
            if dtype not in ('bfloat16', 'float16'):
                raise ValueError(
                    f"dtype must be 'bfloat16' or 'float16', got {dtype!r}")
            dtype = getattr(torch, dtype)
        if dtype not in (torch.bfloat16, torch.float16):
            raise ValueError(f'dtype must be bf16 or fp16, got {dtype}')
        self.cast_dtype = dtype
        params = [p for g in self.optimizer.param_groups for p in g['params']]
        self.device_type = params[0].device.type if params else 'cpu'
        self.loss_scaler = torch.amp.GradScaler(self.device_type) \
            if dtype == torch.float16 else None

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        if self.loss_scaler is not None:
            loss = self.loss_scaler.scale(loss)
        loss.backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs) -> None:
        if self.loss_scaler is None:
            super().step(**kwargs)
            return
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update()

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.loss_scaler is not None:
            state['loss_scaler'] = self.loss_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        scaler_state = state_dict.pop('loss_scaler', None)
        if scaler_state is not None and self.loss_scaler is not None:
            self.loss_scaler.load_state_dict(scaler_state)
        super().load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast(
                device_type=self.device_type, dtype=self.cast_dtype):
            yield
