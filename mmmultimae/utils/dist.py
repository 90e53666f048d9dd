# Copyright (c) mmmultimae contributors. All rights reserved.
"""Distributed set-up for machines without GPUs."""
import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config) -> None:
    """Make ``launcher='pytorch'`` work on CPU-only machines (gloo).

    mmengine 0.10.7 always calls ``torch.cuda.set_device`` in its pytorch
    launcher and wraps the model with ``device_ids=[LOCAL_RANK]``; both fail
    without a GPU. When no GPU is visible, this joins the torchrun process
    group with gloo first (mmengine then skips its own initialisation) and
    asks for a CPU ``MMDistributedDataParallel`` (``device_ids=None``).
    Does nothing with a GPU or without a launcher.

    Args:
        cfg (Config): The run config; ``launcher`` must already be set.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return
    if not torch_dist.is_initialized():
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout')
        kwargs = {}
        if timeout is not None:
            import datetime
            kwargs['timeout'] = datetime.timedelta(seconds=timeout)
        torch_dist.init_process_group(backend='gloo', **kwargs)
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
