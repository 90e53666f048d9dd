# Copyright (c) mmmultimae contributors. All rights reserved.
"""Run set-up shared by the tools: config loading, CPU distributed."""
import os.path as osp
from typing import Optional

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


def load_run_config(config: str,
                    cfg_options: Optional[dict] = None,
                    launcher: str = 'none',
                    work_dir: Optional[str] = None) -> Config:
    """Read a config for ``tools/train.py`` / ``tools/test.py``.

    Applies ``--cfg-options``, sets the launcher (and the CPU distributed
    set-up, see :func:`setup_cpu_distributed`) and the work dir with the
    mmseg priority: CLI > config > ``./work_dirs/<config name>``.

    Args:
        config (str): Config path.
        cfg_options (dict, optional): Overrides, ``key=value``.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        work_dir (str, optional): Work dir given on the command line.

    Returns:
        Config: The config to hand to the runner.
    """
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    setup_cpu_distributed(cfg)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    return cfg


def teardown_distributed() -> None:
    """Leave the process group cleanly at the end of a run.

    Without it, processes exit while gloo's threads are still alive and a
    rank can abort at interpreter shutdown ("terminate called without an
    active exception") although the run itself finished.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
