# Copyright (c) mmmultimae contributors. All rights reserved.
"""Conformance of the decode heads with the official fine-tuning heads.

Every record of the fixture's ``finetune_heads`` (see
``shared/fixtures/README.md``) is rebuilt from its recorded class and
kwargs, loaded strictly with the converted official weights and compared
in fp32 with the recorded output:

    relative error = max|ours - official| / max|official| <= 1e-5.

(a) the head alone, on the recorded encoder tokens (decode heads: main-task
slices, reshaped row-major to maps, global token dropped; the
classification head: all tokens); (b) end to end, our ``MultiViT`` built
and loaded from the record's ``model`` and the head (classification: in a
``MultiViTClassifier``).
"""
import warnings
from typing import List, Tuple

import pytest
import torch
import torch.nn.functional as F
from official_fixtures import load_official_fixture

from mmmultimae.models.classifiers import (MultiViTClassifier,
                                           convert_official_cls_head,
                                           convert_official_cls_head_cfg)
from mmmultimae.models.converters import (convert_official_encoder_cfg,
                                          convert_official_multimae,
                                          load_converted)
from mmmultimae.models.decode_heads import (convert_official_head,
                                            convert_official_head_cfg)
from mmmultimae.registry import MODELS

TOL = 1e-5
FIXTURE = load_official_fixture()
RECORDS = FIXTURE['finetune_heads']
DECODE_HEADS = ('ConvNeXtAdapter', 'SegmenterMaskTransformerAdapter',
                'DPTOutputAdapter')
CLS_HEAD = 'LinearOutputAdapter'


def rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    assert ours.shape == ref.shape, (tuple(ours.shape), tuple(ref.shape))
    ref = ref.double()
    return float((ours.double() - ref).abs().max() / ref.abs().max())


def official_class(record: dict) -> str:
    return record['class'].rsplit('.', 1)[-1]


def is_cls_head(record: dict) -> bool:
    return official_class(record) == CLS_HEAD


def head_config(record: dict) -> Tuple[dict, dict]:
    """Our head config and backbone settings from the recorded kwargs."""
    if is_cls_head(record):
        return convert_official_cls_head_cfg(
            record['kwargs'], record['init_call']['dim_tokens_enc']), {}
    head, backbone = convert_official_head_cfg(
        record['class'], record['kwargs'],
        record['init_call']['dim_tokens_enc'])
    if head['type'] == 'DPTRegressionHead':
        head['loss_decode'] = dict(type='SiLogLoss')  # unused here
    return head, backbone


def build_head(record: dict) -> Tuple[torch.nn.Module, dict]:
    head_cfg, backbone = head_config(record)
    head = MODELS.build(head_cfg).eval()
    kwargs = record['kwargs']
    if is_cls_head(record):
        head.load_state_dict(
            convert_official_cls_head(record['state_dict']), strict=True)
        return head, backbone
    with warnings.catch_warnings():
        # DPT: the never-used refinenet4.resConfUnit1 weights are reported.
        warnings.simplefilter('ignore', UserWarning)
        state = convert_official_head(record['state_dict'], record['class'],
                                      kwargs.get('head_type', 'regression'))
    head.load_state_dict(state, strict=True)
    return head, backbone


def official_maps(record: dict, backbone: dict) -> List[torch.Tensor]:
    """The maps our backbone would give, from the recorded head input."""
    info = record['input']['input_info']
    tokens = record['input']['encoder_tokens']
    if isinstance(tokens, (list, tuple)):
        tokens = [tokens[i] for i in backbone['out_indices']]
    else:
        tokens = [tokens]
    patch = record['kwargs'].get('patch_size', 16)
    h, w = (s // patch for s in info['image_size'])
    maps = []
    for x in tokens:
        x = torch.cat([
            x[:, info['tasks'][m]['start_idx']:info['tasks'][m]['end_idx']]
            for m in backbone['out_modalities']
        ],
                      dim=2)
        maps.append(x.transpose(1, 2).reshape(x.shape[0], -1, h, w))
    return maps


def to_output_size(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """The official heads' final bilinear resize (align_corners=False)."""
    if out.shape[2:] == ref.shape[2:]:
        return out
    return F.interpolate(
        out, size=ref.shape[2:], mode='bilinear', align_corners=False)


def encoder_weights(spec) -> dict:
    """The recorded encoder weights: a state dict, or (as in the tiny
    fixture) a description naming the pre-training state dict, whose
    ``output_adapters.*`` the fine-tuning scripts drop."""
    if isinstance(spec, dict):
        return spec
    source = 'pretrain.state_dict'
    assert isinstance(spec, str) and spec.startswith(source), spec
    return {
        k: v
        for k, v in FIXTURE['pretrain']['state_dict'].items()
        if not k.startswith('output_adapters.')
    }


def build_encoder(record: dict, backbone: dict) -> torch.nn.Module:
    model = record['model']
    cfg = convert_official_encoder_cfg(model['kwargs'],
                                       model['input_adapters'])
    cfg.update(backbone)
    encoder = MODELS.build(cfg).eval()
    official = dict(encoder_weights(model['encoder_weights']))
    official.update(model['encoder_state_dict_overrides'])
    state = convert_official_multimae(official, encoder_only=True)
    result = load_converted(encoder, state, strict=False)
    unexpected = convert_official_multimae(
        {k: official[k]
         for k in model['load_unexpected_keys']},
        encoder_only=True) if model['load_unexpected_keys'] else {}
    assert result.missing_keys == []
    assert set(result.unexpected_keys) == set(unexpected)
    return encoder


@pytest.mark.parametrize('name', sorted(RECORDS))
def test_head_alone(name):
    record = RECORDS[name]
    head, backbone = build_head(record)
    with torch.no_grad():
        if is_cls_head(record):  # every token, the global one last
            out = head((record['input']['encoder_tokens'], ))
        else:
            out = head(tuple(official_maps(record, backbone)))
    ref = record['output']
    err = rel_err(to_output_size(out, ref), ref)
    assert err <= TOL, f'{name}: relative error {err:.3g} > {TOL}'


@pytest.mark.parametrize('name', sorted(RECORDS))
def test_head_end_to_end(name):
    record = RECORDS[name]
    head, backbone = build_head(record)
    encoder = build_encoder(record, backbone)
    with torch.no_grad():
        if is_cls_head(record):
            # the inputs are normalised already: no data preprocessor
            model = MultiViTClassifier(backbone=encoder, head=head).eval()
            out = model(record['inputs']['rgb'], mode='tensor')
        else:
            out = head(encoder(record['inputs']))
    ref = record['output']
    err = rel_err(to_output_size(out, ref), ref)
    assert err <= TOL, f'{name} end to end: relative error {err:.3g} > {TOL}'


def test_every_head_class_is_recorded():
    """The fixture really exercises the three official decode heads and
    both poolings of the classification head."""
    recorded = {official_class(r) for r in RECORDS.values()}
    assert set(DECODE_HEADS) | {CLS_HEAD} <= recorded
    poolings = {
        r['kwargs'].get('use_mean_pooling', True)
        for r in RECORDS.values() if is_cls_head(r)
    }
    assert poolings == {True, False}
