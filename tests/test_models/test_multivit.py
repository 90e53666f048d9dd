# Copyright (c) mmmultimae contributors. All rights reserved.
import math
import os

import pytest
import torch
from timm.models.vision_transformer import Block

from mmmultimae.models import MultiViT, PatchInputAdapter
from mmmultimae.models.converters import (convert_official_encoder_cfg,
                                          convert_official_multimae,
                                          load_converted)
from mmmultimae.registry import MODELS

FIXTURE = os.environ.get(
    'MMMULTIMAE_OFFICIAL_FIXTURE',
    os.path.join(
        os.path.dirname(__file__), '..', 'data', 'official_multimae_tiny.pth'))


def max_rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out - ref).abs().max() / ref.abs().max()).item()


@pytest.fixture(scope='module')
def fixture():
    return torch.load(FIXTURE, weights_only=True)


@pytest.fixture(scope='module')
def official_encoder(fixture):
    """Our MultiViT built from the fixture's meta, with its weights."""
    meta = fixture['meta']['pretrain_model']
    cfg = convert_official_encoder_cfg(meta['kwargs'], meta['input_adapters'])
    model = MODELS.build(cfg).eval()
    state = convert_official_multimae(
        fixture['pretrain']['state_dict'], encoder_only=True)
    load_converted(model, state, strict=True)
    return model


def small_vit(**kwargs) -> MultiViT:
    cfg = dict(
        adapters=dict(
            rgb=dict(type='PatchInputAdapter', in_channels=3, image_size=64),
            depth=dict(type='PatchInputAdapter', in_channels=1, image_size=64),
            semseg=dict(
                type='SemSegInputAdapter',
                num_classes=7,
                class_embed_dims=8,
                image_size=64)),
        embed_dims=32,
        num_layers=3,
        num_heads=2)
    cfg.update(kwargs)
    return MultiViT(**cfg)


def small_inputs(batch=2, size=(64, 64)):
    return dict(
        rgb=torch.randn(batch, 3, *size),
        depth=torch.randn(batch, 1, *size),
        semseg=torch.randint(0, 7, (batch, size[0] // 4, size[1] // 4)))


@pytest.mark.parametrize('case', ['rgb', 'rgb_depth', 'rgb_alt_resolution'])
def test_per_layer_outputs_match_official(fixture, official_encoder, case):
    record = fixture['multivit']['cases'][case]
    assert list(record['inputs']) == record['input_domains']
    with torch.no_grad():
        layers, layout = official_encoder.forward_tokens(
            record['inputs'], return_layers=record['layer_indices'])
        if record['encoder_input_tokens'] is not None:
            tokens, _ = official_encoder.tokenize(record['inputs'])
            glob = official_encoder.global_tokens.expand(len(tokens), -1, -1)
            assert max_rel_err(
                torch.cat([tokens, glob], 1),
                record['encoder_input_tokens']) <= 1e-5
    assert len(layers) == len(record['layers'])
    for out, ref in zip(layers, record['layers']):
        assert out.shape == ref.shape
        assert max_rel_err(out, ref) <= 1e-5
    info = record['input_info']
    for name, task in info['tasks'].items():
        sl = layout.slices[name]
        assert (sl.start, sl.stop) == (task['start_idx'], task['end_idx'])
    assert layout.num_global_tokens == info['num_global_tokens']
    # No final norm: the plain forward equals the last block's output.
    with torch.no_grad():
        final, _ = official_encoder.forward_tokens(record['inputs'])
    assert torch.equal(final, layers[-1])


def test_block_is_timm_with_sdpa_and_official_settings():
    model = small_vit(drop_path_rate=0.3)
    assert all(isinstance(b, Block) for b in model.blocks)
    assert all(b.attn.fused_attn for b in model.blocks)
    assert model.blocks[0].norm1.eps == 1e-6
    assert model.blocks[0].mlp.act.approximate == 'none'  # exact GELU
    drop = [
        float(getattr(b.drop_path1, 'drop_prob', 0.)) for b in model.blocks
    ]
    assert drop == pytest.approx([0., 0.15, 0.3])
    assert not hasattr(model, 'norm')
    state = model.state_dict()
    assert 'global_tokens' in state and state['global_tokens'].shape == (1, 1,
                                                                         32)
    assert {k.split('.', 2)[2]
            for k in state if k.startswith('blocks.0.')} == {
                f'{m}.{p}'
                for m in ('norm1', 'attn.qkv', 'attn.proj', 'norm2', 'mlp.fc1',
                          'mlp.fc2')
                for p in ('weight', 'bias')
            }


def test_tokenize_layout_and_subsets():
    model = small_vit().eval()
    inputs = small_inputs(size=(32, 48))
    tokens, layout = model.tokenize(inputs)
    assert tokens.shape == (2, 3 * 6, 32)
    assert layout.modalities == ['rgb', 'depth', 'semseg']
    assert layout.grids == dict(rgb=(2, 3), depth=(2, 3), semseg=(2, 3))
    assert torch.equal(tokens[:, layout.slices['depth']],
                       model.adapters['depth'](inputs['depth']))
    # Input-dict order decides the concatenation order.
    reordered = dict(semseg=inputs['semseg'], rgb=inputs['rgb'])
    tokens2, layout2 = model.tokenize(reordered)
    assert layout2.modalities == ['semseg', 'rgb']
    assert torch.equal(tokens2[:, :6], tokens[:, layout.slices['semseg']])
    # Any non-empty subset.
    out, layout3 = model.forward_tokens(dict(depth=inputs['depth']))
    assert out.shape == (2, 6 + 1, 32)
    assert layout3.total_tokens == 6


def test_tokenize_errors():
    model = small_vit()
    with pytest.raises(KeyError, match=r"'normals'.*rgb.*depth.*semseg"):
        model.tokenize(
            dict(
                rgb=torch.randn(1, 3, 32, 32),
                normals=torch.randn(1, 3, 32, 32)))
    with pytest.raises(ValueError, match='no modality'):
        model.tokenize({})
    with pytest.raises(ValueError, match='same batch size'):
        model.tokenize(
            dict(
                rgb=torch.randn(1, 3, 32, 32), depth=torch.randn(2, 1, 32,
                                                                 32)))


def test_encode_appends_global_tokens_last():
    torch.manual_seed(0)
    model = small_vit(num_global_tokens=2, num_layers=1).eval()
    with torch.no_grad():
        model.blocks[0].attn.proj.weight.zero_()
        model.blocks[0].attn.proj.bias.zero_()
        model.blocks[0].mlp.fc2.weight.zero_()
        model.blocks[0].mlp.fc2.bias.zero_()
    tokens = torch.randn(3, 5, 32)
    with torch.no_grad():
        out = model.encode(tokens)
    # Zeroed residual branches: the blocks are the identity.
    assert out.shape == (3, 7, 32)
    assert torch.equal(out[:, :5], tokens)
    assert torch.equal(out[:, 5:], model.global_tokens.expand(3, -1, -1))


def test_encode_return_layers():
    torch.manual_seed(0)
    model = small_vit().eval()
    tokens = torch.randn(2, 4, 32)
    with torch.no_grad():
        x = torch.cat([tokens, model.global_tokens.expand(2, -1, -1)], 1)
        manual = []
        for block in model.blocks:
            x = block(x)
            manual.append(x)
        layers = model.encode(tokens, return_layers=[2, 0, -2])
        last = model.encode(tokens)
    assert len(layers) == 3
    for out, i in zip(layers, [2, 0, 1]):
        assert torch.equal(out, manual[i])
    assert torch.equal(last, manual[-1])
    with pytest.raises(ValueError, match='Invalid return_layers 3'):
        model.encode(tokens, return_layers=[3])
    with pytest.raises(ValueError, match='empty'):
        model.encode(tokens, return_layers=[])


def test_forward_feature_maps():
    torch.manual_seed(0)
    model = small_vit(out_indices=(0, 2)).eval()
    inputs = small_inputs(size=(32, 48))
    with torch.no_grad():
        feats = model(inputs)
        layers, layout = model.forward_tokens(inputs, [0, 2])
    assert len(feats) == 2
    for feat, layer in zip(feats, layers):
        assert feat.shape == (2, 32, 2, 3)
        assert feat.is_contiguous()
        rgb = layer[:, layout.slices['rgb']]
        # Token n of the row-major grid is pixel (n // w, n % w).
        assert torch.equal(feat[:, :, 1, 2], rgb[:, 5])
        assert torch.equal(feat.flatten(2).transpose(1, 2), rgb)
    model2 = small_vit(out_indices=-1, out_modalities=['rgb', 'depth'])
    model2.load_state_dict(model.state_dict())
    model2.eval()
    with torch.no_grad():
        (feat, ) = model2(inputs)
    assert feat.shape == (2, 64, 2, 3)
    assert torch.equal(feat[:, 32:].flatten(2).transpose(1, 2),
                       layers[-1][:, layout.slices['depth']])
    with pytest.raises(KeyError, match='depth'):
        model2(dict(rgb=inputs['rgb']))


def test_forward_rejects_mismatched_out_grids():
    model = small_vit(out_modalities=['rgb', 'depth'])
    inputs = dict(
        rgb=torch.randn(1, 3, 32, 32), depth=torch.randn(1, 1, 32, 48))
    with pytest.raises(ValueError, match='share one token grid'):
        model(inputs)


def test_constructor_errors():
    with pytest.raises(ValueError, match='Invalid out_indices 3'):
        small_vit(out_indices=(0, 3))
    with pytest.raises(ValueError, match='out_modalities'):
        small_vit(out_modalities=['normals'])
    with pytest.raises(ValueError, match='embed_dims'):
        small_vit(
            adapters=dict(
                rgb=dict(
                    type='PatchInputAdapter', in_channels=3, embed_dims=16)))
    with pytest.raises(ValueError, match='at least one'):
        small_vit(adapters={})


def test_final_norm_option():
    torch.manual_seed(0)
    model = small_vit(final_norm=True).eval()
    tokens = torch.randn(1, 4, 32)
    with torch.no_grad():
        model.norm.weight.fill_(2.)
        raw = model.blocks[-1](model.encode(tokens, return_layers=[-2])[0])
        out = model.encode(tokens)
    torch.testing.assert_close(out, model.norm(raw))


def test_official_init():
    torch.manual_seed(0)
    model = small_vit(embed_dims=48, num_heads=3)
    model.init_weights()
    qkv = model.blocks[0].attn.qkv.weight  # (3D, D)
    bound = math.sqrt(6. / (qkv.shape[0] / 3 + qkv.shape[1]))
    assert qkv.abs().max() <= bound
    assert qkv.abs().max() > 0.95 * bound
    fc1 = model.blocks[1].mlp.fc1.weight
    assert fc1.abs().max() <= math.sqrt(6. / sum(fc1.shape))
    for block in model.blocks:
        for module in (block.attn.qkv, block.attn.proj, block.mlp.fc1,
                       block.mlp.fc2):
            assert torch.count_nonzero(module.bias) == 0
        assert torch.equal(block.norm1.weight, torch.ones(48))
        assert torch.count_nonzero(block.norm2.bias) == 0
    assert model.global_tokens.std().item() == pytest.approx(0.02, rel=0.5)
    conv = model.adapters['rgb'].proj.weight.view(48, -1)
    assert conv.abs().max() <= math.sqrt(6. / sum(conv.shape))
    emb = model.adapters['semseg'].class_embed.weight
    assert emb.abs().max() < 0.2


@pytest.mark.parametrize('prefix', ['', 'encoder.'])
def test_pretrained_init_cfg(tmp_path, prefix):
    torch.manual_seed(0)
    source = small_vit()
    path = str(tmp_path / 'encoder.pth')
    state = {prefix + k: v for k, v in source.state_dict().items()}
    state['decoders.rgb.head.weight'] = torch.zeros(1)  # other prefix
    torch.save({'state_dict': state}, path)
    cfg = dict(type='Pretrained', checkpoint=path)
    if prefix:
        cfg['prefix'] = prefix
    model = small_vit(init_cfg=cfg)
    model.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_get_layer_depth():
    model = small_vit()  # 3 blocks
    assert model.get_layer_depth('global_tokens') == (0, 5)
    assert model.get_layer_depth('adapters.rgb.proj.weight') == (0, 5)
    assert model.get_layer_depth('adapters.semseg.class_embed.weight') == (0,
                                                                           5)
    assert model.get_layer_depth('blocks.0.norm1.weight') == (1, 5)
    assert model.get_layer_depth('blocks.2.mlp.fc2.bias') == (3, 5)
    assert model.get_layer_depth('norm.weight') == (4, 5)
    assert model.get_layer_depth('backbone.blocks.1.attn.qkv.weight',
                                 'backbone.') == (2, 5)
    assert model.get_layer_depth('backbone.global_tokens',
                                 'backbone.') == (0, 5)
    assert model.get_layer_depth('decode_head.conv_seg.weight',
                                 'backbone.') == (4, 5)
    for name, _ in model.named_parameters():
        depth, num = model.get_layer_depth(name)
        assert 0 <= depth < num


def test_gradients_and_frozen_tables():
    model = small_vit()
    feats = model(small_inputs(batch=1))
    feats[0].sum().backward()
    assert model.global_tokens.grad is not None
    assert model.adapters['rgb'].proj.weight.grad is not None
    assert all(a.pos_embed.grad is None for a in model.adapters.values())


def test_accepts_built_adapter_modules():
    adapter = PatchInputAdapter(3, 32, image_size=32)
    model = MultiViT(
        dict(rgb=adapter), embed_dims=32, num_layers=1, num_heads=2)
    assert model.adapters['rgb'] is adapter
    assert model(dict(rgb=torch.randn(1, 3, 32, 32)))[0].shape == (1, 32, 2, 2)
