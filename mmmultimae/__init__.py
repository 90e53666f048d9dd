# Copyright (c) mmmultimae contributors. All rights reserved.
"""MultiMAE for OpenMMLab.

Importing the package needs mmengine and mmcv-lite only; transfer components
built on ``mmseg.models`` are imported when a config asks for them.
"""
from .utils.checkpoint import register_checkpoint_loaders
from .version import __version__, version_info

# mmengine 0.10.7 + torch >= 2.6 cannot load its own checkpoints; see
# mmmultimae/utils/checkpoint.py for the fix and its trust rules.
register_checkpoint_loaders()

__all__ = ['__version__', 'version_info']
