# Copyright (c) mmmultimae contributors. All rights reserved.
"""State-dict converters: official MultiMAE / timm ViT <-> mmmultimae.

Key naming of both sides is described in ``docs/architecture.md``. The
converters are pure functions on ``Dict[str, Tensor]``; they never modify
their input. Keys that a conversion leaves out on purpose (e.g. a timm
classifier head) are reported with a ``UserWarning``; keys it does not know
raise a ``ValueError`` listing them, so nothing is dropped silently.
"""
import math
import re
import warnings
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

StateDict = Dict[str, Tensor]

_BLOCK_PARAM = (r'(?:norm1|attn\.qkv|attn\.proj|norm2|mlp\.fc1|mlp\.fc2)'
                r'\.(?:weight|bias)')

# Official encoder-side key -> ours (relative to a MultiViT).
_OFFICIAL_ENCODER_RULES: List[Tuple[str, str]] = [
    (r'global_tokens', r'global_tokens'),
    (r'input_adapters\.(\w+)\.pos_emb', r'adapters.\1.pos_embed'),
    (r'input_adapters\.(\w+)\.proj\.(weight|bias)', r'adapters.\1.proj.\2'),
    (r'input_adapters\.(\w+)\.class_emb\.weight',
     r'adapters.\1.class_embed.weight'),
    (rf'encoder\.(\d+)\.({_BLOCK_PARAM})', r'blocks.\1.\2'),
]

# Official SpatialOutputAdapter key (relative to the adapter) -> ours
# (relative to a SpatialDecoder).
_OFFICIAL_DECODER_RULES: List[Tuple[str, str]] = [
    (r'proj_context\.(weight|bias)', r'context_proj.\1'),
    (r'pos_emb', r'pos_embed'),
    (r'mask_token', r'mask_token'),
    (r'task_embeddings\.(\w+)', r'task_embeds.\1'),
    (r'decoder\.(q|kv|proj)\.(weight|bias)', r'cross_attn.\1.\2'),
    (r'(query_norm|context_norm|out_norm)\.(weight|bias)', r'\1.\2'),
    (r'mlp\.(fc1|fc2)\.(weight|bias)', r'mlp.\1.\2'),
    (rf'decoder_transformer\.(\d+)\.({_BLOCK_PARAM})', r'blocks.\1.\2'),
    (r'out_proj\.(weight|bias)', r'head.\1'),
]

# timm ViT keys a MultiViT has no counterpart for; dropped and reported.
_TIMM_DROPPED = re.compile(r'(norm|fc_norm|head|head_drop)\.\w+'
                           r'|decoder\w*(\..*)?|mask_token')


def _apply_rules(key: str, rules: Sequence[Tuple[str, str]]) -> Optional[str]:
    for pattern, repl in rules:
        match = re.fullmatch(pattern, key)
        if match:
            return match.expand(repl)
    return None


def unwrap_state_dict(checkpoint: dict, what: str) -> StateDict:
    """Return the state dict of a checkpoint (``ckpt['model']`` or bare)."""
    if not isinstance(checkpoint, dict):
        raise TypeError(f'{what} must be a dict, got {type(checkpoint)}')
    for wrapper in ('model', 'state_dict'):
        if isinstance(checkpoint.get(wrapper), dict):
            return checkpoint[wrapper]
    bad = [k for k, v in checkpoint.items() if not isinstance(v, Tensor)]
    if bad:
        raise ValueError(f'{what} is neither a state dict nor a checkpoint '
                         f"with a 'model'/'state_dict' entry; non-tensor "
                         f'keys: {bad[:10]}')
    return checkpoint


def convert_official_multimae(checkpoint: dict,
                              encoder_only: bool = False) -> StateDict:
    """Convert an official MultiMAE / MultiViT checkpoint to mmmultimae.

    Args:
        checkpoint (dict): ``torch.load`` of an official checkpoint: either
            ``{'model': state_dict, ...}`` or the bare state dict, with or
            without ``output_adapters.*``.
        encoder_only (bool): Return a bare :class:`MultiViT` state dict (no
            ``encoder.`` prefix); every ``output_adapters.*`` key, including
            fine-tuning heads, is dropped. Defaults to False, which returns
            a MultiMAE state dict (``encoder.*`` and
            ``heads.<name>.decoder.*``).

    Returns:
        dict[str, Tensor]: The converted state dict (tensors shared with the
        input, which is not modified).
    """
    state = unwrap_state_dict(checkpoint, 'checkpoint')
    out: StateDict = {}
    unknown = []
    for key, value in state.items():
        if key.startswith('output_adapters.'):
            if encoder_only:
                continue
            _, name, rest = key.split('.', 2)
            new = _apply_rules(rest, _OFFICIAL_DECODER_RULES)
            if new is not None:
                new = f'heads.{name}.decoder.{new}'
        else:
            new = _apply_rules(key, _OFFICIAL_ENCODER_RULES)
            if new is not None and not encoder_only:
                new = f'encoder.{new}'
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    if unknown:
        raise ValueError('Keys unknown to the official MultiMAE converter '
                         f'({len(unknown)}): {unknown}')
    if not out:
        raise ValueError('The checkpoint holds no MultiMAE keys')
    return out


def _take_kwargs(kwargs: dict,
                 mapping: Dict[str, str],
                 what: str,
                 fixed: Optional[Dict[str, object]] = None) -> dict:
    """Rename official constructor kwargs, rejecting unsupported ones."""
    fixed = fixed or {}
    out, unknown = {}, []
    for key, value in kwargs.items():
        if key in mapping:
            out[mapping[key]] = value
        elif key in fixed:
            if value != fixed[key]:
                raise ValueError(f'{what}: {key}={value!r} is not supported '
                                 f'(only {fixed[key]!r})')
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f'{what}: unknown official arguments {unknown}')
    return out


def convert_official_adapter_cfg(class_name: str, kwargs: dict) -> dict:
    """Config of our input adapter equivalent to an official one.

    Args:
        class_name (str): Official class, e.g.
            ``'multimae.input_adapters.PatchedInputAdapter'`` (the module
            path is optional).
        kwargs (dict): Its constructor arguments.

    Returns:
        dict: A ``MODELS`` config (``embed_dims`` left to the encoder).
    """
    name = class_name.rsplit('.', 1)[-1]
    common = dict(
        stride_level='stride_level',
        patch_size_full='patch_size',
        image_size='image_size',
        learnable_pos_emb='learnable_pos_embed',
        dim_tokens='embed_dims')
    fixed = dict(sincos_pos_emb=True)
    if name == 'PatchedInputAdapter':
        cfg = _take_kwargs(kwargs, dict(common, num_channels='in_channels'),
                           name, fixed)
        cfg['type'] = 'PatchInputAdapter'
    elif name == 'SemSegInputAdapter':
        kwargs = dict(kwargs)
        padding_idx = kwargs.pop('emb_padding_idx', None)
        if padding_idx not in (None, kwargs.get('num_classes')):
            raise ValueError('SemSegInputAdapter: emb_padding_idx must be '
                             f'None or num_classes, got {padding_idx}')
        cfg = _take_kwargs(
            kwargs,
            dict(
                common,
                num_classes='num_classes',
                dim_class_emb='class_embed_dims'), name,
            dict(fixed, interpolate_class_emb=False))
        cfg.update(
            type='SemSegInputAdapter', padding_class=padding_idx is not None)
    else:
        raise ValueError(f'No mmmultimae equivalent of {class_name!r}')
    if isinstance(cfg.get('image_size'), list):
        cfg['image_size'] = tuple(cfg['image_size'])
    return cfg


def convert_official_encoder_cfg(kwargs: dict,
                                 input_adapters: Dict[str, dict]) -> dict:
    """``MultiViT`` config equivalent to an official MultiMAE/MultiViT.

    Args:
        kwargs (dict): Official encoder constructor arguments
            (``dim_tokens``, ``depth``, ``num_heads``...). ``norm_layer``
            may be given as a string and must be LayerNorm(eps=1e-6).
        input_adapters (dict[str, dict]): ``{modality: {'class': ...,
            'kwargs': ...}}`` of the official input adapters.

    Returns:
        dict: A ``MODELS`` config of type ``MultiViT``.
    """
    kwargs = dict(kwargs)
    norm = kwargs.pop('norm_layer', None)
    if norm is not None and 'eps=1e-06' not in str(norm):
        raise ValueError('Only LayerNorm(eps=1e-6) is supported, got '
                         f'norm_layer={norm}')
    cfg = _take_kwargs(
        kwargs,
        dict(
            dim_tokens='embed_dims',
            depth='num_layers',
            num_heads='num_heads',
            mlp_ratio='mlp_ratio',
            qkv_bias='qkv_bias',
            num_global_tokens='num_global_tokens',
            drop_rate='drop_rate',
            attn_drop_rate='attn_drop_rate',
            drop_path_rate='drop_path_rate'), 'MultiViT')
    cfg['type'] = 'MultiViT'
    cfg['adapters'] = {
        modality: convert_official_adapter_cfg(spec['class'], spec['kwargs'])
        for modality, spec in input_adapters.items()
    }
    return cfg


def _strip_encoder_prefix(state: StateDict) -> StateDict:
    """Keep the MultiViT of a MultiMAE (``encoder.*``) or segmentor
    (``backbone.*``) state dict, without the prefix; bare dicts pass."""
    for prefix in ('encoder.', 'backbone.'):
        if 'global_tokens' not in state and prefix + 'global_tokens' in state:
            return {
                k[len(prefix):]: v
                for k, v in state.items() if k.startswith(prefix)
            }
    return state


def multivit_to_timm(state_dict: dict, modality: str = 'rgb') -> StateDict:
    """Export a MultiViT encoder to a timm ``VisionTransformer`` state dict.

    The global token becomes ``cls_token`` (exactly one global token is
    required) with a zero position (timm adds ``pos_embed[:, 0]`` to it);
    ``pos_embed`` is that zero row followed by the modality's table
    flattened row-major, ``(1, 1 + h*w, D)``. Other adapters are dropped
    (reported). timm prepends the class token whereas MultiViT appends the
    global token, which attention does not care about; timm's final
    ``norm`` has no counterpart (MultiViT has none), so build the timm
    model with ``final_norm=False`` or replace its ``norm`` by an
    ``Identity`` to get the same features.

    Args:
        state_dict (dict): MultiViT state dict, or a MultiMAE (keys
            ``encoder.*``) or segmentor (``backbone.*``) one whose other
            keys are ignored, optionally wrapped in ``{'state_dict': ...}``.
        modality (str): The patch adapter used as ``patch_embed``.
            Defaults to 'rgb'.

    Returns:
        dict[str, Tensor]: timm ViT keys ``cls_token``, ``pos_embed``,
        ``patch_embed.proj.*``, ``blocks.*`` (and ``norm.*`` if the encoder
        has a final norm).
    """
    state = _strip_encoder_prefix(unwrap_state_dict(state_dict, 'state_dict'))
    if 'global_tokens' not in state:
        raise ValueError("No 'global_tokens' key: not a MultiViT state dict")
    global_tokens = state['global_tokens']
    if global_tokens.dim() != 3 or global_tokens.shape[1] != 1:
        raise ValueError('timm ViTs have exactly one class token but '
                         'global_tokens has shape '
                         f'{tuple(global_tokens.shape)} (1, G=1, D expected)')
    prefix = f'adapters.{modality}.'
    needed = [f'{prefix}pos_embed', f'{prefix}proj.weight']
    if any(k not in state for k in needed):
        adapters = sorted(
            {k.split('.')[1]
             for k in state if k.startswith('adapters.')})
        raise ValueError(f'No patch adapter {modality!r} (keys {needed}) '
                         f'in the state dict; adapters: {adapters}')
    if f'{prefix}class_embed.weight' in state:
        raise ValueError(f'Adapter {modality!r} is a semseg adapter, not a '
                         'patch embedding')
    pos = state[f'{prefix}pos_embed']
    dims = pos.shape[1]
    table = pos.flatten(2).transpose(1, 2)  # (1, h*w, D), row-major
    out: StateDict = {
        'cls_token': global_tokens.clone(),
        'pos_embed': torch.cat([table.new_zeros(1, 1, dims), table], dim=1),
    }
    dropped, unknown = [], []
    for key, value in state.items():
        if key.startswith(prefix + 'proj.'):
            out['patch_embed.' + key[len(prefix):]] = value
        elif re.fullmatch(rf'blocks\.\d+\.{_BLOCK_PARAM}', key) or \
                re.fullmatch(r'norm\.(weight|bias)', key):
            out[key] = value
        elif key.startswith('adapters.') and not key.startswith(prefix):
            dropped.append(key)
        elif key not in ('global_tokens', f'{prefix}pos_embed'):
            unknown.append(key)
    if unknown:
        raise ValueError(f'Keys unknown to the timm exporter: {unknown}')
    if dropped:
        warnings.warn('multivit_to_timm: keys of other adapters dropped '
                      f'(timm ViTs have one patch embedding): {dropped}')
    return out


def _infer_grid(num_tokens: int, what: str) -> Tuple[int, int]:
    side = math.isqrt(max(num_tokens, 0))
    if num_tokens < 1 or side * side != num_tokens:
        raise ValueError(f'{what}: {num_tokens} grid positions (after the '
                         'class position) do not form a square grid; pass '
                         'grid=(h, w)')
    return side, side


def timm_to_multivit(state_dict: dict,
                     grid: Optional[Tuple[int, int]] = None,
                     modality: str = 'rgb') -> StateDict:
    """Convert a timm (or MAE) ViT state dict to a MultiViT state dict.

    ``global_tokens = cls_token + pos_embed[:, 0]`` (the class position is
    folded into the token, as official, but without modifying the input),
    the remaining ``pos_embed`` rows become the ``(1, D, h, w)`` table of
    adapter ``modality``, ``patch_embed.proj`` its projection and
    ``blocks.*`` the blocks. ``norm.*``, ``fc_norm.*``, ``head.*`` and MAE
    decoder keys (``decoder*``, ``mask_token``) are dropped and reported.

    Args:
        state_dict (dict): timm ViT state dict, bare or wrapped in
            ``{'model': ...}`` / ``{'state_dict': ...}``.
        grid (tuple[int, int], optional): Patch grid ``(h, w)`` of
            ``pos_embed``, which then holds ``h*w`` positions, with or
            without a leading class position. Defaults to a square grid
            after a class position (standard timm ViTs); non-square grids
            and ``no_embed_class`` models need it.
        modality (str): Adapter name to write. Defaults to 'rgb'.

    Returns:
        dict[str, Tensor]: MultiViT keys ``global_tokens``,
        ``adapters.<modality>.{pos_embed,proj.*}``, ``blocks.*``.
    """
    state = unwrap_state_dict(state_dict, 'state_dict')
    missing = [
        k for k in ('cls_token', 'pos_embed', 'patch_embed.proj.weight')
        if k not in state
    ]
    if missing:
        raise ValueError(f'Not a timm ViT state dict: missing {missing}')
    cls_token, pos = state['cls_token'], state['pos_embed']
    num_pos = pos.shape[1]
    if grid is None:
        # Standard timm ViTs carry a class position before the grid; other
        # layouts (``no_embed_class``, non-square grids) need ``grid``.
        with_cls_pos = True
        h, w = _infer_grid(num_pos - 1, 'timm_to_multivit')
    else:
        h, w = int(grid[0]), int(grid[1])
        if num_pos not in (h * w, h * w + 1):
            raise ValueError(f'pos_embed has {num_pos} positions; grid '
                             f'{(h, w)} needs {h * w} (+1 class position)')
        with_cls_pos = num_pos == h * w + 1
    dims = pos.shape[2]
    global_tokens = cls_token + pos[:, :1] if with_cls_pos else \
        cls_token.clone()
    table = pos[:, int(with_cls_pos):].reshape(1, h, w, dims)
    prefix = f'adapters.{modality}.'
    out: StateDict = {
        'global_tokens': global_tokens,
        f'{prefix}pos_embed': table.permute(0, 3, 1, 2).contiguous(),
    }
    dropped, unknown = [], []
    for key, value in state.items():
        if key.startswith('patch_embed.proj.'):
            out[prefix + key[len('patch_embed.'):]] = value
        elif re.fullmatch(rf'blocks\.\d+\.{_BLOCK_PARAM}', key):
            out[key] = value
        elif _TIMM_DROPPED.fullmatch(key):
            dropped.append(key)
        elif key not in ('cls_token', 'pos_embed'):
            unknown.append(key)
    if unknown:
        raise ValueError(f'Keys unknown to the timm converter: {unknown}')
    if dropped:
        warnings.warn('timm_to_multivit: keys without a MultiViT '
                      f'counterpart dropped: {dropped}')
    return out


class LoadResult(NamedTuple):
    """Keys of a :func:`load_converted` call that did not match."""
    missing_keys: List[str]
    unexpected_keys: List[str]
    resized_keys: List[str]


def load_converted(model: nn.Module,
                   state_dict: StateDict,
                   strict: bool = True,
                   pos_embed_mode: Optional[str] = None) -> LoadResult:
    """Load a converted state dict and report what does not match.

    Args:
        model (nn.Module): Target model.
        state_dict (dict[str, Tensor]): Converted state dict.
        strict (bool): Raise a ``KeyError`` listing the missing and
            unexpected keys when there are any. Defaults to True.
        pos_embed_mode (str, optional): If given, ``*pos_embed`` tables of
            another grid are resized to the model's with this
            ``F.interpolate`` mode (``align_corners=False``; official
            fine-tuning uses 'bicubic'). Otherwise a grid mismatch is an
            error like any other shape mismatch.

    Returns:
        LoadResult: ``missing_keys``, ``unexpected_keys`` and
        ``resized_keys``.
    """
    own = model.state_dict()
    state = dict(state_dict)
    mismatched, resized = [], []
    for key, value in state_dict.items():
        if key not in own or own[key].shape == value.shape:
            continue
        target = own[key].shape
        if (pos_embed_mode is not None and key.endswith('pos_embed')
                and value.dim() == 4 and value.shape[:2] == target[:2]):
            state[key] = F.interpolate(
                value.float(),
                size=tuple(target[-2:]),
                mode=pos_embed_mode,
                align_corners=False).to(value.dtype)
            resized.append(key)
        else:
            mismatched.append(
                f'{key}: checkpoint {tuple(value.shape)} vs model '
                f'{tuple(target)}')
    if mismatched:
        raise ValueError('Shape mismatch between the state dict and '
                         f'{type(model).__name__}: {mismatched}')
    result = model.load_state_dict(state, strict=False)
    missing = list(result.missing_keys)
    unexpected = list(result.unexpected_keys)
    if strict and (missing or unexpected):
        raise KeyError(f'Loading into {type(model).__name__}: missing keys '
                       f'{missing}; unexpected keys {unexpected}')
    return LoadResult(missing, unexpected, resized)
