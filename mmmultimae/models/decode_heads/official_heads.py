# Copyright (c) mmmultimae contributors. All rights reserved.
"""Official MultiMAE fine-tuning heads -> mmmultimae / mmseg heads.

Pure functions (no I/O) on state dicts whose keys are relative to the
official head (``output_adapters.<domain>.`` stripped) and on the official
constructor arguments. Official classes and ours:

==================================  =======================================
official                            ours
==================================  =======================================
``ConvNeXtAdapter``                 :class:`ConvNeXtHead`
``SegmenterMaskTransformerAdapter`` mmseg ``SegmenterMaskTransformerHead``
                                    (same function; LN eps 1e-6)
``DPTOutputAdapter`` regression     :class:`DPTRegressionHead`
``DPTOutputAdapter`` semseg         :class:`DPTSemSegHead`
==================================  =======================================

mmseg's ``SegmenterMaskTransformerHead`` (with ``norm_cfg=dict(type='LN',
eps=1e-6)``) computes the official Segmenter-Mask function (max relative
difference 2e-6 on the fixture), so there is no mmmultimae class for it.
It differs only outside that function: its ``init_weights`` is
trunc-normal(0.02) for the Linears (official: xavier-uniform), and with
``drop_rate > 0`` mmcv's FFN also drops after the GELU (official: only after
the second Linear; the official scripts use ``drop_rate=0``).

The classification ``LinearOutputAdapter`` is not a decode head.
"""
import re
import warnings
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch import Tensor

StateDict = Dict[str, Tensor]
Rule = Tuple[str, Callable[[re.Match], str]]

_PARAM = r'(weight|bias)'
_BN_PARAM = r'(weight|bias|running_mean|running_var|num_batches_tracked)'

_CONVNEXT_RULES: List[Rule] = [
    (rf'proj_dec\.{_PARAM}', lambda m: f'dec_proj.{m[1]}'),
    (rf'blocks\.(\d+)\.dwconv\.{_PARAM}',
     lambda m: f'blocks.{m[1]}.conv_dw.{m[2]}'),
    (rf'blocks\.(\d+)\.norm\.{_PARAM}',
     lambda m: f'blocks.{m[1]}.norm.{m[2]}'),
    (rf'blocks\.(\d+)\.pwconv([12])\.{_PARAM}',
     lambda m: f'blocks.{m[1]}.mlp.fc{m[2]}.{m[3]}'),
    (rf'final_layer\.{_PARAM}', lambda m: f'conv_seg.{m[1]}'),
]

# To mmseg's SegmenterMaskTransformerHead (mmcv TransformerEncoderLayer).
_SEGMENTER_RULES: List[Rule] = [
    (rf'proj_dec\.{_PARAM}', lambda m: f'dec_proj.{m[1]}'),
    (r'cls_emb', lambda m: 'cls_emb'),
    (rf'blocks\.(\d+)\.norm([12])\.{_PARAM}',
     lambda m: f'layers.{m[1]}.ln{m[2]}.{m[3]}'),
    (rf'blocks\.(\d+)\.attn\.qkv\.{_PARAM}',
     lambda m: f'layers.{m[1]}.attn.attn.in_proj_{m[2]}'),
    (rf'blocks\.(\d+)\.attn\.proj\.{_PARAM}',
     lambda m: f'layers.{m[1]}.attn.attn.out_proj.{m[2]}'),
    (rf'blocks\.(\d+)\.mlp\.fc1\.{_PARAM}',
     lambda m: f'layers.{m[1]}.ffn.layers.0.0.{m[2]}'),
    (rf'blocks\.(\d+)\.mlp\.fc2\.{_PARAM}',
     lambda m: f'layers.{m[1]}.ffn.layers.1.{m[2]}'),
    (rf'(decoder_norm|mask_norm)\.{_PARAM}', lambda m: f'{m[1]}.{m[2]}'),
    (r'(patch_proj|classes_proj)\.weight', lambda m: f'{m[1]}.weight'),
]


def _fusion(m: re.Match) -> str:
    """Official ``refinenet<i>`` is our ``fusion_blocks[4 - i]`` (deepest
    first)."""
    return f'fusion_blocks.{4 - int(m[1])}'


_DPT_BODY_RULES: List[Rule] = [
    (rf'act_([1-4])_postprocess\.0\.{_PARAM}',
     lambda m: f'reassemble_blocks.projects.{int(m[1]) - 1}.conv.{m[2]}'),
    (rf'act_([1-4])_postprocess\.1\.{_PARAM}',
     lambda m: f'reassemble_blocks.resize_layers.{int(m[1]) - 1}.{m[2]}'),
    (r'scratch\.layer([1-4])_rn\.weight',
     lambda m: f'convs.{int(m[1]) - 1}.conv.weight'),
    (rf'scratch\.refinenet([1-4])\.out_conv\.{_PARAM}',
     lambda m: f'{_fusion(m)}.project.conv.{m[2]}'),
    (rf'scratch\.refinenet([1-4])\.resConfUnit([12])\.conv([12])\.{_PARAM}',
     lambda m: f'{_fusion(m)}.res_conv_unit{m[2]}.conv{m[3]}.conv.{m[4]}'),
    (rf'scratch\.refinenet([1-4])\.resConfUnit([12])\.bn([12])\.{_BN_PARAM}',
     lambda m: f'{_fusion(m)}.res_conv_unit{m[2]}.conv{m[3]}.bn.{m[4]}'),
]
_DPT_HEAD_RULES: Dict[str, List[Rule]] = dict(
    regression=[
        (rf'head\.0\.{_PARAM}', lambda m: f'project.{m[1]}'),
        (rf'head\.2\.{_PARAM}', lambda m: f'hidden.conv.{m[1]}'),
        (rf'head\.4\.{_PARAM}', lambda m: f'conv_seg.{m[1]}'),
    ],
    semseg=[
        (r'head\.0\.weight', lambda m: 'project.conv.weight'),
        (rf'head\.1\.{_BN_PARAM}', lambda m: f'project.bn.{m[1]}'),
        (rf'head\.4\.{_PARAM}', lambda m: f'conv_seg.{m[1]}'),
    ])
# Registered twice by the official module; twin of the canonical key.
_DPT_ALIASES: List[Rule] = [
    (r'act_postprocess\.([0-3])\.(.+)',
     lambda m: f'act_{int(m[1]) + 1}_postprocess.{m[2]}'),
    (r'scratch\.layer_rn\.([0-3])\.weight',
     lambda m: f'scratch.layer{int(m[1]) + 1}_rn.weight'),
]
# The deepest official fusion block has no skip input, so its first
# residual unit is built but never used (mmseg's, and ours, has none).
_DPT_UNUSED = re.compile(r'scratch\.refinenet4\.resConfUnit1\..+')


def _rename(key: str, rules: Sequence[Rule]):
    for pattern, repl in rules:
        match = re.fullmatch(pattern, key)
        if match:
            return repl(match)
    return None


def _convert(state_dict: StateDict, rules: Sequence[Rule],
             what: str) -> StateDict:
    out, unknown = {}, []
    for key, value in state_dict.items():
        new = _rename(key, rules)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    if unknown:
        raise ValueError(f'Keys unknown to the official {what} converter '
                         f'({len(unknown)}): {unknown}')
    return out


def convert_official_convnext_head(state_dict: StateDict) -> StateDict:
    """Official ``ConvNeXtAdapter`` keys -> :class:`ConvNeXtHead` keys.

    Args:
        state_dict (dict[str, Tensor]): Keys relative to the head.

    Returns:
        dict[str, Tensor]: Our keys (tensors shared with the input).
    """
    return _convert(state_dict, _CONVNEXT_RULES, 'ConvNeXtAdapter')


def convert_official_segmenter_head(state_dict: StateDict) -> StateDict:
    """Official ``SegmenterMaskTransformerAdapter`` keys -> mmseg
    ``SegmenterMaskTransformerHead`` keys (``qkv`` is mmcv's packed
    ``in_proj``, ``proj`` its ``out_proj``, ``mlp`` its ``ffn``).

    Args:
        state_dict (dict[str, Tensor]): Keys relative to the head.

    Returns:
        dict[str, Tensor]: mmseg keys (tensors shared with the input).
    """
    return _convert(state_dict, _SEGMENTER_RULES,
                    'SegmenterMaskTransformerAdapter')


def convert_official_dpt_head(state_dict: StateDict,
                              head_type: str = 'regression') -> StateDict:
    """Official ``DPTOutputAdapter`` keys -> :class:`DPTRegressionHead` /
    :class:`DPTSemSegHead` keys.

    The alias keys ``act_postprocess.N.*`` / ``scratch.layer_rn.N.*`` must
    equal their ``act_{N+1}_postprocess.*`` / ``scratch.layer{N+1}_rn.*``
    twins and are dropped; the never-used ``scratch.refinenet4.resConfUnit1``
    weights are dropped with a ``UserWarning``.

    Args:
        state_dict (dict[str, Tensor]): Keys relative to the head.
        head_type (str): ``'regression'`` or ``'semseg'`` (official
            ``head_type``). Defaults to 'regression'.

    Returns:
        dict[str, Tensor]: Our keys (tensors shared with the input).
    """
    if head_type not in _DPT_HEAD_RULES:
        raise ValueError(f"head_type must be one of {list(_DPT_HEAD_RULES)}, "
                         f'got {head_type!r}')
    canonical, unused, bad_alias = {}, [], []
    for key, value in state_dict.items():
        twin = _rename(key, _DPT_ALIASES)
        if twin is not None:
            if twin not in state_dict or not torch.equal(
                    state_dict[twin], value):
                bad_alias.append(f'{key} (twin {twin})')
        elif _DPT_UNUSED.fullmatch(key):
            unused.append(key)
        else:
            canonical[key] = value
    if bad_alias:
        raise ValueError('DPT alias keys missing or differing from their '
                         f'twin: {bad_alias}')
    if unused:
        warnings.warn(f'Dropped the unused official DPT weights {unused}')
    return _convert(canonical, _DPT_BODY_RULES + _DPT_HEAD_RULES[head_type],
                    f'DPTOutputAdapter ({head_type})')


def _short(official_class: str) -> str:
    return official_class.rsplit('.', 1)[-1]


def convert_official_head(state_dict: StateDict,
                          official_class: str,
                          head_type: str = 'regression') -> StateDict:
    """Convert the state dict of any official decode head.

    Args:
        state_dict (dict[str, Tensor]): Keys relative to the head.
        official_class (str): E.g. ``'ConvNeXtAdapter'`` (a module path is
            allowed).
        head_type (str): DPT only. Defaults to 'regression'.

    Returns:
        dict[str, Tensor]: Keys of the head :func:`convert_official_head_cfg`
        builds.
    """
    name = _short(official_class)
    if name == 'ConvNeXtAdapter':
        return convert_official_convnext_head(state_dict)
    if name == 'SegmenterMaskTransformerAdapter':
        return convert_official_segmenter_head(state_dict)
    if name == 'DPTOutputAdapter':
        return convert_official_dpt_head(state_dict, head_type)
    raise ValueError(f'{official_class!r} is not an official decode head')


_DEFAULTS = dict(
    ConvNeXtAdapter=dict(
        embed_dim=6144,
        preds_per_patch=16,
        main_tasks=('rgb', ),
        patch_size=16,
        depth=4,
        interpolate_mode='bilinear'),
    SegmenterMaskTransformerAdapter=dict(
        depth=2,
        num_heads=12,
        embed_dim=768,
        mlp_ratio=4,
        drop_path_rate=0.1,
        drop_rate=0.,
        attn_drop_rate=0.,
        qkv_bias=True,
        main_tasks=('rgb', ),
        patch_size=16,
        norm_layer=None),
    DPTOutputAdapter=dict(
        num_classes=3,
        stride_level=1,
        patch_size=16,
        main_tasks=('rgb', ),
        hooks=(2, 5, 8, 11),
        layer_dims=(96, 192, 384, 768),
        feature_dim=256,
        use_bn=False,
        dim_tokens_enc=None,
        head_type='regression'))


def _full_kwargs(name: str, kwargs: dict) -> dict:
    unknown = sorted(set(kwargs) - set(_DEFAULTS[name]) - {'num_classes'})
    if unknown:
        raise ValueError(f'{name}: unknown official arguments {unknown}')
    full = dict(_DEFAULTS[name], **kwargs)
    if 'num_classes' not in full:
        raise ValueError(f'{name}: num_classes is required')
    return full


def convert_official_head_cfg(official_class: str, kwargs: dict,
                              dim_tokens_enc: int) -> Tuple[dict, dict]:
    """Config of our head equivalent to an official decode head.

    Args:
        official_class (str): Official class name (module path allowed).
        kwargs (dict): Its constructor arguments (official defaults fill
            the others).
        dim_tokens_enc (int): Encoder width (official ``init`` argument).

    Returns:
        tuple[dict, dict]: The ``decode_head`` config and the ``MultiViT``
        settings it relies on: ``out_modalities`` (official ``main_tasks``,
        concatenated on channels by the backbone) and ``out_indices``
        (DPT: ``hooks``; the other heads read the last block's output via
        ``in_index=-1``). ``patch_size`` only set the official token grid,
        which our heads take from the maps. A regression head still needs
        its ``loss_decode``.
    """
    name = _short(official_class)
    if name not in _DEFAULTS:
        raise ValueError(f'{official_class!r} is not an official decode head')
    kw = _full_kwargs(name, kwargs)
    if kw.get('dim_tokens_enc') not in (None, dim_tokens_enc):
        raise ValueError(f"{name}: dim_tokens_enc={kw['dim_tokens_enc']} "
                         f'differs from the encoder width {dim_tokens_enc}')
    in_channels = dim_tokens_enc * len(kw['main_tasks'])
    backbone = dict(out_modalities=list(kw['main_tasks']), out_indices=-1)
    if name == 'ConvNeXtAdapter':
        if kw['interpolate_mode'] != 'bilinear':
            raise ValueError('ConvNeXtAdapter: only interpolate_mode='
                             "'bilinear' is supported (mmseg resizes logits "
                             'bilinearly)')
        if kw['embed_dim'] % kw['preds_per_patch']:
            raise ValueError('ConvNeXtAdapter: embed_dim must be divisible '
                             'by preds_per_patch')
        head = dict(
            type='ConvNeXtHead',
            in_channels=in_channels,
            channels=kw['embed_dim'] // kw['preds_per_patch'],
            preds_per_patch=kw['preds_per_patch'],
            num_blocks=kw['depth'],
            num_classes=kw['num_classes'],
            in_index=-1)
    elif name == 'SegmenterMaskTransformerAdapter':
        norm = kw['norm_layer']
        if norm is not None and 'eps=1e-06' not in str(norm):
            raise ValueError('SegmenterMaskTransformerAdapter: only '
                             f'LayerNorm(eps=1e-6) is supported, got {norm}')
        if not kw['qkv_bias']:
            # mmcv's attention has one bias flag for in_proj and out_proj.
            raise ValueError('SegmenterMaskTransformerAdapter: qkv_bias='
                             'False has no mmseg equivalent')
        head = dict(
            type='SegmenterMaskTransformerHead',
            in_channels=in_channels,
            channels=kw['embed_dim'],
            num_classes=kw['num_classes'],
            num_layers=kw['depth'],
            num_heads=kw['num_heads'],
            embed_dims=kw['embed_dim'],
            mlp_ratio=kw['mlp_ratio'],
            drop_path_rate=kw['drop_path_rate'],
            drop_rate=kw['drop_rate'],
            attn_drop_rate=kw['attn_drop_rate'],
            norm_cfg=dict(type='LN', eps=1e-6),
            dropout_ratio=0.,
            in_index=-1)
    else:
        if kw['stride_level'] != 1:
            raise ValueError('DPTOutputAdapter: only stride_level=1 is '
                             f"supported, got {kw['stride_level']}")
        if kw['head_type'] not in _DPT_HEAD_RULES:
            raise ValueError('DPTOutputAdapter: unknown head_type '
                             f"{kw['head_type']!r}")
        head = dict(
            type='DPTRegressionHead'
            if kw['head_type'] == 'regression' else 'DPTSemSegHead',
            in_channels=in_channels,
            channels=kw['feature_dim'],
            post_process_channels=list(kw['layer_dims']),
            num_classes=kw['num_classes'],
            norm_cfg=dict(type='BN') if kw['use_bn'] else None,
            in_index=[0, 1, 2, 3])
        backbone['out_indices'] = list(kw['hooks'])
    return head, backbone
