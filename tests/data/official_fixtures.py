# Copyright (c) mmmultimae contributors. All rights reserved.
"""Where the conformance tests find the recordings of the official code.

Order: the environment variable (so another recording of the same structure
can be checked), ``../shared/fixtures/`` next to the repository, then the
copy in ``tests/data/`` (a user's clone has no ``../shared``).
"""
import os
from typing import Any

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _fixture(env: str, name: str) -> str:
    path = os.environ.get(env)
    if path:
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{env}={path!r} does not exist')
        return path
    shared = os.path.join(REPO, '..', 'shared', 'fixtures', name)
    if os.path.isfile(shared):
        return shared
    return os.path.join(REPO, 'tests', 'data', name)


def official_fixture_path() -> str:
    """The pre-training / fine-tuning-head recording."""
    return _fixture('MMMULTIMAE_OFFICIAL_FIXTURE',
                    'official_multimae_tiny.pth')


def transfer_fixture_path() -> str:
    """The transfer recording (losses, metrics, layer decay, loading)."""
    return _fixture('MMMULTIMAE_OFFICIAL_TRANSFER_FIXTURE',
                    'official_transfer_reference.pth')


def load_official_fixture() -> Any:
    return torch.load(official_fixture_path(), weights_only=True)


def load_transfer_fixture() -> Any:
    return torch.load(transfer_fixture_path(), weights_only=True)
