# Copyright (c) mmmultimae contributors. All rights reserved.
from .checkpoint import (register_checkpoint_loaders,
                         torch_load_trusting_mmengine)
from .dist import (load_run_config, setup_cpu_distributed,
                   teardown_distributed)
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'register_checkpoint_loaders',
    'torch_load_trusting_mmengine', 'setup_cpu_distributed',
    'load_run_config', 'teardown_distributed'
]
