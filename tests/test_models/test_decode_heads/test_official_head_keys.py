# Copyright (c) mmmultimae contributors. All rights reserved.
"""Key and config conversion of official fine-tuning heads (errors, DPT
aliases, the semseg / BN variant the fixture does not record)."""
import re
import warnings

import pytest
import torch
from official_fixtures import load_official_fixture

from mmmultimae.models.decode_heads import (DPTSemSegHead,
                                            convert_official_convnext_head,
                                            convert_official_dpt_head,
                                            convert_official_head,
                                            convert_official_head_cfg,
                                            convert_official_segmenter_head)

RECORDS = load_official_fixture()['finetune_heads']


def record_of(official_class: str) -> dict:
    for record in RECORDS.values():
        if record['class'].endswith('.' + official_class):
            return record
    pytest.skip(f'no {official_class} record in this fixture')


@pytest.mark.parametrize('convert, official_class', [
    (convert_official_convnext_head, 'ConvNeXtAdapter'),
    (convert_official_segmenter_head, 'SegmenterMaskTransformerAdapter'),
    (convert_official_dpt_head, 'DPTOutputAdapter'),
])
def test_unknown_keys_are_listed(convert, official_class):
    state = dict(record_of(official_class)['state_dict'])
    state['blocks.0.gamma'] = torch.ones(1)
    state['extra.weight'] = torch.ones(1)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)  # DPT's unused unit
        with pytest.raises(ValueError) as info:
            convert(state)
    assert "'blocks.0.gamma'" in str(info.value)
    assert "'extra.weight'" in str(info.value)


def test_dpt_aliases_are_checked_and_dropped():
    state = record_of('DPTOutputAdapter')['state_dict']
    with pytest.warns(UserWarning, match='refinenet4.resConfUnit1'):
        out = convert_official_dpt_head(state)
    alias = re.compile(r'(act_postprocess|scratch\.layer_rn)\.')
    aliases = [k for k in state if alias.match(k)]
    unused_prefix = 'scratch.refinenet4.resConfUnit1.'
    unused = [k for k in state if k.startswith(unused_prefix)]
    assert aliases and unused
    assert len(out) == len(state) - len(aliases) - len(unused)
    assert out['convs.0.conv.weight'] is state['scratch.layer1_rn.weight']

    bad = dict(state)
    key = next(k for k in aliases if k.startswith('act_postprocess.1.'))
    bad[key] = bad[key] + 1
    with pytest.raises(ValueError, match=re.escape(key)):
        convert_official_dpt_head(bad)
    orphan = dict(state)
    del orphan['scratch.layer2_rn.weight']
    with pytest.raises(ValueError, match=r'scratch\.layer_rn\.1\.weight'):
        convert_official_dpt_head(orphan)
    with pytest.raises(ValueError, match='head_type'):
        convert_official_dpt_head(state, head_type='depth')


def official_names(ours: str) -> str:
    """Official key of one of our DPT semseg (+BN) keys, written from the
    official module layout independently of the converter."""
    rules = [
        (r'reassemble_blocks\.projects\.(\d)\.conv\.(\w+)',
         lambda m: f'act_{int(m[1]) + 1}_postprocess.0.{m[2]}'),
        (r'reassemble_blocks\.resize_layers\.(\d)\.(\w+)',
         lambda m: f'act_{int(m[1]) + 1}_postprocess.1.{m[2]}'),
        (r'convs\.(\d)\.conv\.weight',
         lambda m: f'scratch.layer{int(m[1]) + 1}_rn.weight'),
        (r'fusion_blocks\.(\d)\.project\.conv\.(\w+)',
         lambda m: f'scratch.refinenet{4 - int(m[1])}.out_conv.{m[2]}'),
        (r'fusion_blocks\.(\d)\.res_conv_unit(\d)\.conv(\d)\.conv\.(\w+)',
         lambda m: f'scratch.refinenet{4 - int(m[1])}.resConfUnit{m[2]}.'
         f'conv{m[3]}.{m[4]}'),
        (r'fusion_blocks\.(\d)\.res_conv_unit(\d)\.conv(\d)\.bn\.(\w+)',
         lambda m: f'scratch.refinenet{4 - int(m[1])}.resConfUnit{m[2]}.'
         f'bn{m[3]}.{m[4]}'),
        (r'project\.conv\.weight', lambda m: 'head.0.weight'),
        (r'project\.bn\.(\w+)', lambda m: f'head.1.{m[1]}'),
        (r'conv_seg\.(\w+)', lambda m: f'head.4.{m[1]}'),
    ]
    for pattern, repl in rules:
        match = re.fullmatch(pattern, ours)
        if match:
            return repl(match)
    raise AssertionError(f'no official name for {ours}')


def test_dpt_semseg_with_batchnorm_round_trip():
    head = DPTSemSegHead(
        in_channels=16,
        channels=8,
        post_process_channels=[4, 8, 8, 16],
        num_classes=3,
        norm_cfg=dict(type='BN'))
    ours = head.state_dict()
    official = {official_names(k): v.clone() for k, v in ours.items()}
    for i in range(4):  # the official duplicates and the unused unit
        official[f'scratch.layer_rn.{i}.weight'] = official[
            f'scratch.layer{i + 1}_rn.weight'].clone()
        prefix = f'act_{i + 1}_postprocess.'
        for key in [k for k in official if k.startswith(prefix)]:
            twin = key.replace(prefix, f'act_postprocess.{i}.')
            official[twin] = official[key].clone()
    official['scratch.refinenet4.resConfUnit1.conv1.weight'] = torch.ones(1)
    with pytest.warns(UserWarning, match='unused'):
        converted = convert_official_head(
            official, 'DPTOutputAdapter', head_type='semseg')
    assert set(converted) == set(ours)
    assert all(torch.equal(converted[k], v) for k, v in ours.items())
    head.load_state_dict(converted, strict=True)


def test_not_a_decode_head():
    with pytest.raises(ValueError, match='not an official decode head'):
        convert_official_head({}, 'multimae.LinearOutputAdapter')
    with pytest.raises(ValueError, match='not an official decode head'):
        convert_official_head_cfg('LinearOutputAdapter', {}, 96)


def test_head_cfg_translation():
    head, backbone = convert_official_head_cfg(
        'ConvNeXtAdapter', dict(num_classes=150, main_tasks=['rgb', 'depth']),
        768)
    assert head == dict(
        type='ConvNeXtHead',
        in_channels=1536,
        channels=384,
        preds_per_patch=16,
        num_blocks=4,
        num_classes=150,
        in_index=-1)
    assert backbone == dict(out_modalities=['rgb', 'depth'], out_indices=-1)
    head, backbone = convert_official_head_cfg(
        'DPTOutputAdapter',
        dict(num_classes=40, head_type='semseg', use_bn=True), 768)
    assert head['type'] == 'DPTSemSegHead'
    assert head['norm_cfg'] == dict(type='BN')
    assert head['channels'] == 256
    assert backbone['out_indices'] == [2, 5, 8, 11]
    head, _ = convert_official_head_cfg('SegmenterMaskTransformerAdapter',
                                        dict(num_classes=150), 768)
    assert head['num_layers'] == 2 and head['embed_dims'] == 768
    assert head['norm_cfg'] == dict(type='LN', eps=1e-6)


@pytest.mark.parametrize('official_class, kwargs, match', [
    ('ConvNeXtAdapter', dict(num_classes=3, foo=1), 'foo'),
    ('ConvNeXtAdapter', dict(), 'num_classes'),
    ('ConvNeXtAdapter', dict(num_classes=3,
                             interpolate_mode='nearest'), 'bilinear'),
    ('ConvNeXtAdapter', dict(num_classes=3, embed_dim=100), 'divisible'),
    ('SegmenterMaskTransformerAdapter', dict(num_classes=3,
                                             qkv_bias=False), 'qkv_bias'),
    ('SegmenterMaskTransformerAdapter',
     dict(num_classes=3, norm_layer='LayerNorm(eps=1e-05)'), 'eps'),
    ('DPTOutputAdapter', dict(stride_level=2), 'stride_level'),
    ('DPTOutputAdapter', dict(head_type='depth'), 'head_type'),
    ('DPTOutputAdapter', dict(dim_tokens_enc=64), 'dim_tokens_enc'),
])
def test_head_cfg_rejects_unsupported(official_class, kwargs, match):
    with pytest.raises(ValueError, match=match):
        convert_official_head_cfg(official_class, kwargs, 96)
