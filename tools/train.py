# Copyright (c) mmmultimae contributors. All rights reserved.
"""Train a model from an MMEngine config (mmseg-compatible command line)."""
import argparse
import logging
import os

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

from mmmultimae.utils import (load_run_config, register_all_modules,
                              teardown_distributed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        default=None,
        help='resume from the latest checkpoint in the work dir, or from the '
        'given checkpoint path')
    parser.add_argument(
        '--amp',
        nargs='?',
        const='bfloat16',
        default=None,
        choices=['bfloat16', 'float16'],
        help='enable automatic mixed precision (default dtype: bfloat16)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs, e.g. '
        'train_dataloader.batch_size=8')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (or --local_rank)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_amp(cfg: Config, dtype: str) -> None:
    """Switch the config's optimizer wrapper to mixed precision.

    Uses ``MixedPrecisionOptimWrapper`` (autocast with an explicit dtype, a
    loss scaler only for fp16), see
    ``mmmultimae/engine/optimizers/mixed_precision_optim_wrapper.py``.
    """
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    amp_wrappers = ('MixedPrecisionOptimWrapper', 'AmpOptimWrapper')
    if wrapper not in ('OptimWrapper', ) + amp_wrappers:
        raise ValueError(
            '--amp needs optim_wrapper.type OptimWrapper or a mixed-precision '
            f'wrapper, the config has {wrapper!r}')
    if wrapper in amp_wrappers:
        print_log(
            f'AMP is already enabled in the config; --amp sets dtype {dtype}',
            logger='current',
            level=logging.WARNING)
    cfg.optim_wrapper.type = 'MixedPrecisionOptimWrapper'
    cfg.optim_wrapper.dtype = dtype
    cfg.optim_wrapper.pop('loss_scale', None)


def main() -> None:
    args = parse_args()
    register_all_modules(init_default_scope=False)

    cfg = load_run_config(args.config, args.cfg_options, args.launcher,
                          args.work_dir)

    if args.amp is not None:
        enable_amp(cfg, args.amp)

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if 'runner_type' in cfg:
        from mmmultimae.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    runner.train()
    teardown_distributed()


if __name__ == '__main__':
    main()
