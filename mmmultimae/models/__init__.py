# Copyright (c) mmmultimae contributors. All rights reserved.
"""Pre-training models. Transfer modules built on ``mmseg.models``
(``decode_heads``, ``segmentors``) are imported by the model registry when a
config names them, so that pre-training runs with mmcv-lite."""
from .algorithms import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .decoders import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .input_adapters import PatchInputAdapter, SemSegInputAdapter  # noqa: F401
from .losses import *  # noqa: F401,F403
from .mask_samplers import BaseMaskSampler  # noqa: F401
from .mask_samplers import (DirichletMaskSampler, UniformMaskSampler,
                            masks_to_ids)
