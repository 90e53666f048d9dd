# Copyright (c) mmmultimae contributors. All rights reserved.
"""Checkpoint loading on torch >= 2.6 (``mmmultimae/utils/checkpoint.py``)."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

import mmmultimae  # noqa: F401  (registers the loaders)
from mmmultimae.utils import torch_load_trusting_mmengine


class Payload:
    """A class no checkpoint may import."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_state_dicts_and_mmengine_checkpoints_load(tmp_path):
    plain = tmp_path / 'plain.pth'
    torch.save({'w': torch.ones(2)}, plain)
    assert torch.equal(torch_load_trusting_mmengine(str(plain))['w'],
                       torch.ones(2))
    engine = tmp_path / 'engine.pth'
    history = HistoryBuffer()
    history.update(1.5)
    torch.save(
        dict(
            state_dict={'w': torch.zeros(1)},
            message_hub=dict(log_scalars=dict(loss=history)),
            meta=dict(seed=np.int64(3))), engine)
    loaded = CheckpointLoader.load_checkpoint(str(engine))
    assert loaded['message_hub']['log_scalars']['loss'].current() == 1.5


def test_foreign_globals_are_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': Payload()}, path)
    with pytest.raises(pickle.UnpicklingError, match='refusing') as err:
        torch_load_trusting_mmengine(str(path))
    assert str(path) in str(err.value)


def test_truncated_checkpoint_names_the_file(tmp_path):
    path = tmp_path / 'epoch_3.pth'
    torch.save({'state_dict': {'w': torch.randn(64, 64)}}, path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    # what --resume / load_from run through mmengine
    with pytest.raises(RuntimeError) as err:
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    message = str(err.value)
    assert str(path) in message and 'truncated' in message
