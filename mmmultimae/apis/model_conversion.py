# Copyright (c) mmmultimae contributors. All rights reserved.
"""Glue of the checkpoint converter tools: load a converted state dict into
a config's model, report keys, save."""
import torch
from mmengine.config import Config

from mmmultimae.models.converters import LoadResult, StateDict, load_converted
from mmmultimae.registry import MODELS
from mmmultimae.utils import register_all_modules


def key_report(result) -> str:
    """Two lines listing the missing and unexpected keys of a load.

    Args:
        result: A :class:`LoadResult` or what ``nn.Module.load_state_dict``
            returns.

    Returns:
        str: ``Missing keys (n): [...]`` and ``Unexpected keys (n): [...]``.
    """
    return (f'Missing keys ({len(result.missing_keys)}): '
            f'{result.missing_keys}\n'
            f'Unexpected keys ({len(result.unexpected_keys)}): '
            f'{result.unexpected_keys}')


def load_into_config_model(state_dict: StateDict, config: str,
                           encoder_only: bool) -> LoadResult:
    """Build the model of an mmengine config and load a converted state
    dict into it without ``strict`` (what the converter tools report).

    Args:
        state_dict (dict[str, Tensor]): Converted state dict.
        config (str): Config file path.
        encoder_only (bool): Load into the model's ``backbone`` (or
            ``encoder``) instead of the whole model.

    Returns:
        LoadResult: See :func:`load_converted`.
    """
    register_all_modules()
    model = MODELS.build(Config.fromfile(config).model)
    if encoder_only:
        model = getattr(model, 'backbone', getattr(model, 'encoder', model))
    return load_converted(model, state_dict, strict=False)


def save_converted(state_dict: StateDict, dst: str, src: str,
                   converter: str) -> None:
    """Save a converted state dict as an mmengine-style checkpoint
    (``state_dict`` and ``meta``: source file and converter name)."""
    torch.save(
        {
            'state_dict': state_dict,
            'meta': dict(converted_from=src, converter=converter)
        }, dst)
