# Copyright (c) mmmultimae contributors. All rights reserved.
import os
import sys

# Test-only modules (toy model, dataset, hooks) live in tests/data and are
# imported by configs as ``toy_modules``.
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')
if DATA not in sys.path:
    sys.path.insert(0, DATA)
