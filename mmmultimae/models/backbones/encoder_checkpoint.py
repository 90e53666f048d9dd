# Copyright (c) mmmultimae contributors. All rights reserved.
"""Loading pre-trained weights into a ``MultiViT`` from any source.

Sources, recognised by their keys (a ``{'state_dict': ...}`` or
``{'model': ...}`` wrapper is unwrapped):

- ours: a ``MultiMAE`` checkpoint (``encoder.*``, heads dropped), a
  segmentor / classifier (``backbone.*``) or a bare ``MultiViT``;
- official MultiMAE / MultiViT (``input_adapters.*``, ``encoder.<i>.*``,
  with or without ``output_adapters.*``);
- timm / MAE ViTs (``cls_token``, ``pos_embed``, ``patch_embed.*``,
  ``blocks.*``): the patch embedding becomes the ``rgb`` adapter.

The official fine-tuning steps (``run_finetuning_*.py``) are then applied:
decoders / heads are dropped, every position table is resized **bicubic**
(``align_corners=False``, also for semseg) to the model's grid, and a
semseg class embedding gains one zero row when the model's adapter has a
void class (``padding_class``). Unlike the official ``strict=False`` load,
a missing or mis-shaped encoder key is an error naming it, and a report
lists what was loaded, newly initialised (e.g. a depth adapter an RGB-only
checkpoint lacks) and dropped.
"""
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

import torch.nn.functional as F
from mmengine.logging import print_log
from torch import nn

from ..converters import (StateDict, convert_official_multimae,
                          timm_to_multivit, unwrap_state_dict)


@dataclass
class EncoderLoadReport:
    """What :func:`load_pretrained_encoder` did.

    Args:
        source (str): The checkpoint (path or description).
        source_format (str): ``'mmmultimae'``, ``'official-multimae'`` or
            ``'timm'``.
        loaded (list[str]): Model keys set from the checkpoint.
        new (list[str]): Model keys the checkpoint lacks (kept as
            initialised).
        dropped (list[str]): Checkpoint keys the model has no place for
            (decoders, heads, adapters of other modalities).
        resized (dict[str, tuple]): Position tables resized, ``key:
            (old grid, new grid)``.
        padded (list[str]): Class embeddings that gained a zero void row.
    """

    source: str
    source_format: str
    loaded: List[str] = field(default_factory=list)
    new: List[str] = field(default_factory=list)
    dropped: List[str] = field(default_factory=list)
    resized: Dict[str, Tuple[Tuple[int, int], Tuple[int, int]]] = field(
        default_factory=dict)
    padded: List[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            f'Pre-trained encoder from {self.source} ({self.source_format}):',
            f'  loaded {len(self.loaded)} tensors',
        ]
        for key, (old, new) in self.resized.items():
            lines.append(f'  resized {key}: grid {old} -> {new} (bicubic)')
        for key in self.padded:
            lines.append(f'  padded {key} with a zero void-class row')
        lines.append(f'  newly initialised ({len(self.new)}): {self.new}')
        lines.append(f'  dropped ({len(self.dropped)}): '
                     f'{_summarise(self.dropped)}')
        return '\n'.join(lines)


def _summarise(keys: List[str], limit: int = 12) -> str:
    """Keys grouped by their first two name parts, e.g.
    ``heads.rgb.* (40)``."""
    groups: Dict[str, int] = {}
    for key in keys:
        prefix = '.'.join(key.split('.')[:2])
        groups[prefix] = groups.get(prefix, 0) + 1
    items = [f'{p}.* ({n})' if n > 1 else p for p, n in groups.items()]
    more = f' and {len(items) - limit} more' if len(items) > limit else ''
    return '[' + ', '.join(items[:limit]) + ']' + more


def encoder_state_dict(checkpoint: dict) -> Tuple[StateDict, str, List[str]]:
    """Our ``MultiViT`` keys from a checkpoint of any supported source.

    Args:
        checkpoint (dict): A loaded checkpoint (wrapped or bare).

    Returns:
        tuple: The state dict (tensors shared with the input), the source
        format and the keys dropped as not belonging to the encoder.
    """
    state = unwrap_state_dict(checkpoint, 'checkpoint')
    keys = list(state)
    if any(k.startswith('input_adapters.') for k in keys) or any(
            re.match(r'encoder\.\d+\.', k) for k in keys):
        dropped = [k for k in keys if k.startswith('output_adapters.')]
        return (convert_official_multimae(state, encoder_only=True),
                'official-multimae', dropped)
    if 'cls_token' in state or 'patch_embed.proj.weight' in state:
        kept = {
            k: v
            for k, v in state.items()
            if not re.match(r'(decoder|mask_token|norm\.|fc_norm|head)', k)
        }
        dropped = [k for k in keys if k not in kept]
        return timm_to_multivit(kept), 'timm', dropped
    for prefix in ('encoder.', 'backbone.', ''):
        if prefix + 'global_tokens' in state:
            out = {
                k[len(prefix):]: v
                for k, v in state.items() if k.startswith(prefix)
            }
            dropped = [k for k in keys if not k.startswith(prefix)]
            return out, 'mmmultimae', dropped
    raise ValueError(
        'Not a MultiViT / MultiMAE / timm ViT checkpoint: none of '
        "'global_tokens', 'encoder.global_tokens', 'backbone.global_tokens', "
        "'input_adapters.*', 'cls_token' is among its keys (first keys: "
        f'{keys[:8]})')


def _adapt_to_model(state: StateDict, own: StateDict, encoder: nn.Module,
                    report: EncoderLoadReport) -> StateDict:
    """Resize position tables, pad class embeddings, drop what the model
    has no place for; shape mismatches are collected as errors."""
    out, mismatched = {}, []
    for key, value in state.items():
        if key not in own:
            report.dropped.append(key)
            continue
        target = own[key].shape
        if key.endswith('pos_embed') and value.dim() == 4 and \
                value.shape[:2] == target[:2] and value.shape != target:
            value = F.interpolate(
                value.float(),
                size=tuple(target[-2:]),
                mode='bicubic',
                align_corners=False).to(value.dtype)
            report.resized[key] = (tuple(state[key].shape[-2:]),
                                   tuple(target[-2:]))
        elif key.endswith('class_embed.weight') and \
                value.shape[0] + 1 == target[0] and \
                value.shape[1:] == target[1:] and \
                getattr(encoder.adapters[key.split('.')[1]],
                        'padding_class', False):
            value = F.pad(value, (0, 0, 0, 1))
            report.padded.append(key)
        if value.shape != target:
            mismatched.append(f'{key}: checkpoint {tuple(value.shape)}, '
                              f'model {tuple(target)}')
            continue
        out[key] = value
    if mismatched:
        raise ValueError(
            f'{report.source}: the encoder of the checkpoint does not match '
            f'the config ({len(mismatched)} shapes): {mismatched}')
    return out


def load_pretrained_encoder(encoder: nn.Module,
                            checkpoint: Union[str, dict],
                            prefix: Optional[str] = None,
                            source: Optional[str] = None,
                            logger: str = 'current') -> EncoderLoadReport:
    """Load pre-trained weights into a ``MultiViT`` (official fine-tuning
    semantics, strict about the encoder).

    Args:
        encoder (nn.Module): The ``MultiViT``.
        checkpoint (str | dict): A path (local or URL, read by mmengine's
            ``CheckpointLoader``) or a loaded checkpoint.
        prefix (str, optional): Keep only the keys under this prefix (and
            strip it) before the source format is detected.
        source (str, optional): Name used in messages; defaults to the path.
        logger (str): Where the report is printed (``'silent'`` for none).

    Returns:
        EncoderLoadReport: What was loaded, new, dropped, resized, padded.

    Raises:
        KeyError: A block or the global tokens are missing from the
            checkpoint (every name listed).
        ValueError: Shapes do not match the config (listed), or the file is
            not a ViT checkpoint.
    """
    if isinstance(checkpoint, str):
        from mmengine.runner.checkpoint import CheckpointLoader
        source = source or checkpoint
        checkpoint = CheckpointLoader.load_checkpoint(
            checkpoint, map_location='cpu')
    source = source or '<state dict>'
    if prefix:
        state = unwrap_state_dict(checkpoint, source)
        checkpoint = {
            k[len(prefix):]: v
            for k, v in state.items() if k.startswith(prefix)
        }
        if not checkpoint:
            raise KeyError(f'{source}: no key starts with prefix {prefix!r}')
    state, source_format, dropped = encoder_state_dict(checkpoint)
    report = EncoderLoadReport(source, source_format, dropped=dropped)
    own = encoder.state_dict()
    state = _adapt_to_model(state, own, encoder, report)
    required = [
        k for k in own
        if (k == 'global_tokens' or k.startswith('blocks.')) and k not in state
    ]
    if required:
        raise KeyError(
            f'{source}: the checkpoint lacks encoder keys {required}; a '
            'partial encoder is not loaded (is it the checkpoint of a '
            'smaller model?)')
    result = encoder.load_state_dict(state, strict=False)
    report.loaded = sorted(state)
    report.new = list(result.missing_keys)
    print_log(str(report), logger=logger)
    return report
