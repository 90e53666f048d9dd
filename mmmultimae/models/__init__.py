# Copyright (c) mmmultimae contributors. All rights reserved.
from .backbones import *  # noqa: F401,F403
from .input_adapters import PatchInputAdapter, SemSegInputAdapter  # noqa: F401
from .converters import (convert_official_multimae,  # noqa: F401
                         load_converted, multivit_to_timm,
                         timm_to_multivit)
from .algorithms import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .decoders import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .mask_samplers import (DirichletMaskSampler,  # noqa: F401
                            UniformMaskSampler, masks_to_ids)
