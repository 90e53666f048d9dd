# Copyright (c) mmmultimae contributors. All rights reserved.
from .backbones import *  # noqa: F401,F403
from .input_adapters import PatchInputAdapter, SemSegInputAdapter  # noqa: F401
