# Copyright (c) mmmultimae contributors. All rights reserved.
"""``Runner.val()`` of a config on a checkpoint; rank 0 writes the metrics
as JSON. Used by the 2-process (gloo) test of the held-out evaluation:

    python -m torch.distributed.run --nproc_per_node 2 heldout_val.py \\
        CONFIG CKPT OUT.json --launcher pytorch --cfg-options ...
"""
import argparse
import json

from mmengine.config import DictAction
from mmengine.dist import get_rank
from mmengine.runner import Runner

from mmmultimae.utils import (load_run_config, register_all_modules,
                              teardown_distributed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('out')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--launcher', default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_run_config(args.config, args.cfg_options, args.launcher,
                          args.work_dir)
    cfg.load_from = args.checkpoint
    metrics = Runner.from_cfg(cfg).val()
    if get_rank() == 0:
        with open(args.out, 'w') as f:
            json.dump(metrics, f)
    teardown_distributed()


if __name__ == '__main__':
    main()
