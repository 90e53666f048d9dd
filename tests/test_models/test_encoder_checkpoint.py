# Copyright (c) mmmultimae contributors. All rights reserved.
"""Fine-tuning from a checkpoint: every source, official semantics."""
import os.path as osp

import pytest
import torch
from official_fixtures import load_transfer_fixture

from mmmultimae.models.backbones import (MultiViT, encoder_state_dict,
                                         load_pretrained_encoder)
from mmmultimae.models.converters import (convert_official_encoder_cfg,
                                          convert_official_multimae,
                                          multivit_to_timm)
from mmmultimae.registry import MODELS

DATA = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'data')


@pytest.fixture(scope='module')
def loading():
    return load_transfer_fixture()['checkpoint_loading']


def _official_model(spec: dict) -> MultiViT:
    """Our MultiViT for an official ``{encoder, input_adapters}`` spec."""
    cfg = convert_official_encoder_cfg(spec['encoder'],
                                       spec['input_adapters'])
    torch.manual_seed(0)
    return MODELS.build(cfg)


def test_official_loading_steps(loading):
    """Every recorded fine-tuning case: our model ends with exactly the
    tensors the official steps load, and the report names what changed."""
    checkpoint = {'model': loading['inputs']['state_dict']}
    for case, spec in loading['inputs']['finetune_cases'].items():
        expected = loading['outputs'][case]
        model = _official_model(spec['model'])
        report = load_pretrained_encoder(
            model, checkpoint, source=case, logger='silent')
        assert report.source_format == 'official-multimae'
        ours = convert_official_multimae(
            expected['state_dict'], encoder_only=True)
        own = model.state_dict()
        for key, value in own.items():
            assert key in ours, f'{case}: {key} not in the official result'
            assert torch.equal(value, ours[key]), f'{case}: {key}'
        assert report.new == []
        # what the official load reports as unexpected, we drop
        unexpected = {
            k: expected['state_dict'][k]
            for k in expected['load_unexpected_keys']
        }
        if unexpected:
            unexpected = convert_official_multimae(
                unexpected, encoder_only=True)
        assert set(unexpected) <= set(report.dropped)
        output_adapters = [
            k for k in checkpoint['model'] if k.startswith('output_adapters')
        ]
        assert set(output_adapters) <= set(report.dropped)
        # every pos_emb the official code interpolated, we resized
        changed = convert_official_multimae(
            {k: expected['state_dict'][k]
             for k in expected['changed_keys']}, encoder_only=True)
        resized = {k for k in changed if k.endswith('pos_embed')}
        assert resized == {k for k in report.resized if k in own}
        padded = {k for k in changed if k.endswith('class_embed.weight')}
        assert set(report.padded) == padded & set(own)
        if expected.get('class_emb_pad_row_loaded') is not None:
            row = own['adapters.semseg.class_embed.weight'][-1]
            assert torch.equal(row, expected['class_emb_pad_row_loaded'])
            assert not row.any()


def _tiny(adapters=('rgb', 'depth'), dims=32, layers=2, **kwargs):
    return MultiViT(
        adapters={
            m: dict(
                type='PatchInputAdapter',
                in_channels=3 if m == 'rgb' else 1,
                patch_size=8,
                image_size=32)
            for m in adapters
        },
        embed_dims=dims,
        num_layers=layers,
        num_heads=2,
        **kwargs)


def test_our_checkpoints_timm_and_the_init_cfg(tmp_path):
    torch.manual_seed(0)
    source = _tiny(('rgb', ))
    # a pre-training checkpoint of the old decoders.* layout
    legacy = torch.load(
        osp.join(DATA, 'legacy_multimae_tiny_c62185b.pth'),
        weights_only=True)
    state, fmt, dropped = encoder_state_dict(legacy)
    assert fmt == 'mmmultimae' and 'global_tokens' in state
    assert dropped and all(k.startswith('decoders.') for k in dropped)
    # a segmentor / classifier checkpoint (backbone.*)
    wrapped = {
        'state_dict': {
            **{f'backbone.{k}': v
               for k, v in source.state_dict().items()}, 'decode_head.w':
            torch.zeros(1)
        }
    }
    target = _tiny(('rgb', 'depth'))
    report = load_pretrained_encoder(target, wrapped, logger='silent')
    assert report.dropped == ['decode_head.w']
    # an RGB-only checkpoint leaves the depth adapter newly initialised
    assert sorted(report.new) == [
        'adapters.depth.pos_embed', 'adapters.depth.proj.bias',
        'adapters.depth.proj.weight'
    ]
    assert torch.equal(target.blocks[1].mlp.fc2.weight,
                       source.blocks[1].mlp.fc2.weight)
    # a timm ViT (what our exporter writes) at another grid: bicubic resize
    timm_state = multivit_to_timm(source.state_dict())
    timm_state['norm.weight'] = torch.ones(32)
    big = MultiViT(
        adapters=dict(
            rgb=dict(
                type='PatchInputAdapter',
                in_channels=3,
                patch_size=8,
                image_size=(48, 64))),
        embed_dims=32,
        num_layers=2,
        num_heads=2)
    report = load_pretrained_encoder(big, timm_state, logger='silent')
    assert report.source_format == 'timm'
    assert report.resized == {'adapters.rgb.pos_embed': ((4, 4), (6, 8))}
    assert 'norm.weight' in report.dropped
    assert torch.allclose(big.global_tokens, source.global_tokens)
    # through the config: init_cfg=dict(type='Pretrained', checkpoint=...)
    path = str(tmp_path / 'seg.pth')
    torch.save(wrapped, path)
    model = _tiny(('rgb', ), init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    assert torch.equal(model.blocks[0].attn.qkv.weight,
                       source.blocks[0].attn.qkv.weight)
    with pytest.raises(ValueError, match='map_location'):
        _tiny(('rgb', ),
              init_cfg=dict(
                  type='Pretrained', checkpoint=path,
                  map_location='cuda')).init_weights()


def test_mismatching_checkpoints_are_errors():
    torch.manual_seed(0)
    source = _tiny(('rgb', ))
    state = source.state_dict()
    partial = {k: v for k, v in state.items() if not k.startswith('blocks.1')}
    with pytest.raises(KeyError, match=r"blocks\.1\.attn\.qkv\.weight"):
        load_pretrained_encoder(
            _tiny(('rgb', )), partial, source='partial.pth', logger='silent')
    with pytest.raises(ValueError,
                       match=r'does not match the config.*blocks\.0\.norm1'
                       r'\.weight: checkpoint \(32,\), model \(48,\)'):
        load_pretrained_encoder(
            _tiny(('rgb', ), dims=48), state, logger='silent')
    with pytest.raises(ValueError, match='Not a MultiViT'):
        load_pretrained_encoder(
            _tiny(('rgb', )), {'conv.weight': torch.zeros(1)},
            logger='silent')
