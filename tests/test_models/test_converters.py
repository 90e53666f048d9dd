# Copyright (c) mmmultimae contributors. All rights reserved.
import os
import os.path as osp
import runpy
import sys

import pytest
import timm
import torch
import torch.nn as nn
from timm.models.vision_transformer import VisionTransformer

from mmmultimae.models import MultiViT
from mmmultimae.models.converters import (convert_official_adapter_cfg,
                                          convert_official_encoder_cfg,
                                          convert_official_multimae,
                                          load_converted, multivit_to_timm,
                                          timm_to_multivit)
from mmmultimae.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FIXTURE = os.environ.get(
    'MMMULTIMAE_OFFICIAL_FIXTURE',
    osp.join(ROOT, 'tests', 'data', 'official_multimae_tiny.pth'))


def max_rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out - ref).abs().max() / ref.abs().max()).item()


@pytest.fixture(scope='module')
def fixture():
    return torch.load(FIXTURE, weights_only=True)


def build_official_encoder(fixture, image_size=None) -> MultiViT:
    meta = fixture['meta']['pretrain_model']
    adapters = meta['input_adapters']
    if image_size is not None:
        adapters = {
            name:
            dict(spec, kwargs=dict(spec['kwargs'], image_size=image_size))
            for name, spec in adapters.items()
        }
    return MODELS.build(
        convert_official_encoder_cfg(meta['kwargs'], adapters)).eval()


def timm_vit_like(encoder: MultiViT, modality='rgb', **kwargs):
    adapter = encoder.adapters[modality]
    block = encoder.blocks[0]
    return VisionTransformer(
        img_size=tuple(s * adapter.patch_size
                       for s in adapter.pos_embed.shape[-2:]),
        patch_size=adapter.patch_size,
        in_chans=adapter.in_channels,
        embed_dim=encoder.embed_dims,
        depth=encoder.num_layers,
        num_heads=encoder.num_heads,
        mlp_ratio=block.mlp.fc1.out_features / encoder.embed_dims,
        qkv_bias=block.attn.qkv.bias is not None,
        num_classes=0,
        global_pool='',
        class_token=True,
        **kwargs).eval()


def compare_with_timm(timm_out, ours):
    """timm prepends the class token; MultiViT appends the global token."""
    reordered = torch.cat([ours[:, -1:], ours[:, :-1]], dim=1)
    return max_rel_err(timm_out, reordered)


def test_official_keys_full_and_encoder_only(fixture):
    official = fixture['pretrain']['state_dict']
    snapshot = {k: v.clone() for k, v in official.items()}
    full = convert_official_multimae({'model': official, 'epoch': 3})
    assert full.keys() == convert_official_multimae(official).keys()
    assert len(full) == len(official)
    for key, value in official.items():
        if key.startswith('output_adapters.'):
            continue
        new = key.replace('input_adapters.', 'encoder.adapters.')
        new = new.replace('.pos_emb', '.pos_embed')
        new = new.replace('.class_emb.', '.class_embed.')
        if key.startswith('encoder.'):
            new = 'encoder.blocks.' + key[len('encoder.'):]
        if key == 'global_tokens':
            new = 'encoder.global_tokens'
        assert full[new] is value
    decoders = sorted(
        {k.split('.')[1]
         for k in full if k.startswith('heads.')})
    expected = sorted({
        k.split('.')[1]
        for k in official if k.startswith('output_adapters.')
    })
    assert decoders and decoders == expected
    name = decoders[0]
    pre = f'output_adapters.{name}.'
    renames = {
        'proj_context.weight': 'context_proj.weight',
        'pos_emb': 'pos_embed',
        'mask_token': 'mask_token',
        'decoder.q.weight': 'cross_attn.q.weight',
        'decoder.kv.bias': 'cross_attn.kv.bias',
        'decoder.proj.weight': 'cross_attn.proj.weight',
        'query_norm.weight': 'query_norm.weight',
        'context_norm.bias': 'context_norm.bias',
        'out_norm.weight': 'out_norm.weight',
        'mlp.fc1.weight': 'mlp.fc1.weight',
        'decoder_transformer.0.attn.qkv.weight': 'blocks.0.attn.qkv.weight',
        'out_proj.weight': 'head.weight',
    }
    for old, new in renames.items():
        assert full[f'heads.{name}.decoder.{new}'] is official[pre + old]
    for task in fixture['meta']['hparams']['in_domains']:
        assert full[f'heads.{name}.decoder.task_embeds.{task}'] is official[
            f'{pre}task_embeddings.{task}']

    encoder = convert_official_multimae(official, encoder_only=True)
    assert encoder == {
        k[len('encoder.'):]: v
        for k, v in full.items() if k.startswith('encoder.')
    }
    # The input is never modified.
    assert official.keys() == snapshot.keys()
    assert all(torch.equal(official[k], snapshot[k]) for k in snapshot)


def test_official_unknown_keys(fixture):
    official = dict(fixture['pretrain']['state_dict'])
    official['input_adapters.rgb.proj.1.weight'] = torch.zeros(1)
    official['output_adapters.cls.head.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match=r'proj\.1\.weight.*cls\.head'):
        convert_official_multimae(official)
    # encoder_only drops every output adapter, fine-tuning heads included.
    del official['input_adapters.rgb.proj.1.weight']
    assert 'cls' not in str(
        list(convert_official_multimae(official, encoder_only=True)))
    with pytest.raises(ValueError, match='neither a state dict'):
        convert_official_multimae({'epoch': 3})


def test_official_cfg_conversion(fixture):
    meta = fixture['meta']['pretrain_model']
    cfg = convert_official_encoder_cfg(meta['kwargs'], meta['input_adapters'])
    assert cfg['embed_dims'] == meta['kwargs']['dim_tokens']
    assert cfg['num_layers'] == meta['kwargs']['depth']
    semseg = convert_official_adapter_cfg(
        'SemSegInputAdapter',
        dict(
            num_classes=5,
            stride_level=4,
            patch_size_full=16,
            emb_padding_idx=5,
            image_size=[64, 96]))
    assert semseg == dict(
        type='SemSegInputAdapter',
        num_classes=5,
        stride_level=4,
        patch_size=16,
        image_size=(64, 96),
        padding_class=True)
    with pytest.raises(ValueError, match='interpolate_class_emb'):
        convert_official_adapter_cfg(
            'SemSegInputAdapter',
            dict(
                num_classes=5,
                stride_level=4,
                patch_size_full=16,
                interpolate_class_emb=True))
    with pytest.raises(ValueError, match='unknown official arguments'):
        convert_official_adapter_cfg('PatchedInputAdapter',
                                     dict(num_channels=3, foo=1))
    with pytest.raises(ValueError, match='No mmmultimae equivalent'):
        convert_official_adapter_cfg('LinearOutputAdapter', {})


def test_export_matches_official_timm_format(fixture):
    official = fixture['pretrain']['state_dict']
    reference = fixture['timm_format']['multimae_to_vit']
    with pytest.warns(UserWarning, match='depth'):
        exported = multivit_to_timm(convert_official_multimae(official))
    assert exported.keys() == reference.keys()
    for key, ref in reference.items():
        assert exported[key].shape == ref.shape, key
        assert max_rel_err(exported[key], ref) <= 1e-5 or torch.equal(
            exported[key], ref), key
    # A bare MultiViT dict, an mmengine checkpoint and a segmentor's
    # ``backbone.*`` dict export the same.
    encoder = convert_official_multimae(official, encoder_only=True)
    segmentor = {'backbone.' + k: v for k, v in encoder.items()}
    segmentor['decode_head.conv_seg.weight'] = torch.zeros(1)
    for source in ({'state_dict': encoder}, segmentor):
        with pytest.warns(UserWarning):
            again = multivit_to_timm(source)
        assert again.keys() == exported.keys()
        assert all(torch.equal(again[k], exported[k]) for k in exported)


def test_timm_export_gives_same_features_on_fixture(fixture):
    encoder = build_official_encoder(fixture)
    load_converted(
        encoder,
        convert_official_multimae(
            fixture['pretrain']['state_dict'], encoder_only=True))
    with pytest.warns(UserWarning):
        exported = multivit_to_timm(encoder.state_dict())
    vit = timm_vit_like(encoder)
    missing, unexpected = vit.load_state_dict(exported, strict=False)
    assert sorted(missing) == ['norm.bias', 'norm.weight']
    assert unexpected == []
    vit.norm = nn.Identity()  # MultiViT has no final norm
    rgb = fixture['multivit']['cases']['rgb']['inputs']
    with torch.no_grad():
        ours, _ = encoder.forward_tokens(rgb)
        theirs = vit.forward_features(rgb['rgb'])
    assert compare_with_timm(theirs, ours) <= 1e-5
    # Same through timm's final_norm=False switch and the official export.
    vit2 = timm_vit_like(encoder, final_norm=False)
    vit2.load_state_dict(fixture['timm_format']['multimae_to_vit'])
    with torch.no_grad():
        theirs2 = vit2.forward_features(rgb['rgb'])
    assert compare_with_timm(theirs2, ours) <= 1e-5


@pytest.mark.parametrize('img_size', [64, (64, 96)])
def test_timm_round_trip_small(img_size):
    torch.manual_seed(0)
    size = img_size if isinstance(img_size, tuple) else (img_size, img_size)
    encoder = MultiViT(
        dict(
            rgb=dict(type='PatchInputAdapter', in_channels=3,
                     image_size=size)),
        embed_dims=96,
        num_layers=2,
        num_heads=3).eval()
    with torch.no_grad():  # move away from the identity-like init values
        for param in encoder.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    vit = VisionTransformer(
        img_size=img_size,
        patch_size=16,
        embed_dim=96,
        depth=2,
        num_heads=3,
        num_classes=0,
        class_token=True,
        global_pool='').eval()
    vit.load_state_dict(multivit_to_timm(encoder.state_dict()), strict=False)
    vit.norm = nn.Identity()
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        ours, _ = encoder.forward_tokens(dict(rgb=x))
        theirs = vit.forward_features(x)
    assert compare_with_timm(theirs, ours) <= 1e-5
    # timm -> ours gives back the same encoder (cls position is zero).
    grid = (size[0] // 16, size[1] // 16)
    back = timm_to_multivit(vit.state_dict(), grid=grid)
    state = encoder.state_dict()
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)


def test_timm_to_multivit_features_and_no_mutation():
    torch.manual_seed(0)
    vit = VisionTransformer(
        img_size=(32, 64),
        patch_size=16,
        embed_dim=32,
        depth=2,
        num_heads=2,
        num_classes=5,
        class_token=True).eval()
    with torch.no_grad():
        vit.cls_token.normal_()
        vit.pos_embed.normal_(std=0.5)
    state = vit.state_dict()
    cls_before = state['cls_token'].clone()
    with pytest.warns(UserWarning, match=r"norm\.weight.*head\.weight"):
        converted = timm_to_multivit({'model': state}, grid=(2, 4))
    assert torch.equal(state['cls_token'], cls_before)
    torch.testing.assert_close(converted['global_tokens'],
                               state['cls_token'] + state['pos_embed'][:, :1])
    assert converted['adapters.rgb.pos_embed'].shape == (1, 32, 2, 4)
    encoder = MultiViT(
        dict(
            rgb=dict(
                type='PatchInputAdapter', in_channels=3, image_size=(32, 64))),
        embed_dims=32,
        num_layers=2,
        num_heads=2).eval()
    load_converted(encoder, converted)
    vit.norm = nn.Identity()
    x = torch.randn(1, 3, 32, 64)
    with torch.no_grad():
        ours, _ = encoder.forward_tokens(dict(rgb=x))
        theirs = vit.forward_features(x)
    assert compare_with_timm(theirs, ours) <= 1e-5


def test_timm_to_multivit_matches_official_square_probe(fixture):
    probe = fixture['timm_format']['vit_to_multimae_square_probe']
    source = probe['input_before_call']
    snapshot = {k: v.clone() for k, v in source.items()}
    with pytest.warns(UserWarning, match='norm.weight'):
        ours = timm_to_multivit(source)
    assert all(torch.equal(source[k], snapshot[k]) for k in snapshot)
    expected = convert_official_multimae(probe['output'], encoder_only=True)
    assert ours.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(ours[key], expected[key], rtol=0, atol=0)


def test_timm_to_multivit_errors(fixture):
    exported = fixture['timm_format']['multimae_to_vit']  # 4x6 grid + cls
    with pytest.raises(ValueError, match='pass grid'):
        timm_to_multivit(exported)
    with pytest.raises(ValueError, match='grid'):
        timm_to_multivit(exported, grid=(3, 3))
    with pytest.raises(ValueError, match='reg_token'):
        timm_to_multivit(
            dict(exported, reg_token=torch.zeros(1, 1, 96)), grid=(4, 6))
    with pytest.raises(ValueError, match='cls_token'):
        timm_to_multivit({'pos_embed': exported['pos_embed']})
    # no_embed_class layout: positions without a class row.
    no_cls = dict(exported, pos_embed=exported['pos_embed'][:, 1:])
    converted = timm_to_multivit(no_cls, grid=(4, 6))
    assert torch.equal(converted['global_tokens'], exported['cls_token'])


def test_multivit_to_timm_errors():
    encoder = MultiViT(
        dict(
            depth=dict(type='PatchInputAdapter', in_channels=1, image_size=32),
            semseg=dict(
                type='SemSegInputAdapter', num_classes=3, image_size=32)),
        embed_dims=16,
        num_layers=1,
        num_heads=2,
        num_global_tokens=2)
    state = encoder.state_dict()
    with pytest.raises(ValueError, match='exactly one class token'):
        multivit_to_timm(state)
    state['global_tokens'] = state['global_tokens'][:, :1]
    with pytest.raises(ValueError, match=r"'rgb'.*depth.*semseg"):
        multivit_to_timm(state)
    with pytest.raises(ValueError, match='semseg adapter'):
        multivit_to_timm(state, modality='semseg')
    with pytest.warns(UserWarning, match='semseg'):
        out = multivit_to_timm(state, modality='depth')
    assert out['patch_embed.proj.weight'].shape == (16, 1, 16, 16)
    assert 'norm.weight' not in out
    normed = MultiViT(
        dict(rgb=dict(type='PatchInputAdapter', in_channels=3, image_size=32)),
        embed_dims=16,
        num_layers=1,
        num_heads=2,
        final_norm=True)
    out = multivit_to_timm(normed.state_dict())
    assert torch.equal(out['norm.weight'], normed.norm.weight)
    state['blocks.0.ls1.gamma'] = torch.ones(16)
    with pytest.raises(ValueError, match=r'unknown.*ls1\.gamma'):
        multivit_to_timm(state, modality='depth')


def test_vit_base_loads_export_on_meta_device():
    """``vit_base_patch16_224`` loads a ViT-B MultiViT export."""
    with torch.device('meta'):
        encoder = MultiViT(
            dict(
                rgb=dict(type='PatchInputAdapter', in_channels=3),
                depth=dict(type='PatchInputAdapter', in_channels=1)))
        vit = timm.create_model(
            'vit_base_patch16_224', pretrained=False, num_classes=0)
    with pytest.warns(UserWarning):
        exported = multivit_to_timm(encoder.state_dict())
    own = vit.state_dict()
    assert all(own[k].shape == v.shape for k, v in exported.items())
    missing, unexpected = vit.load_state_dict(
        exported, strict=False, assign=True)
    assert sorted(missing) == ['norm.bias', 'norm.weight']
    assert unexpected == []


def test_load_converted_reports_and_resizes(fixture):
    official = fixture['pretrain']['state_dict']
    converted = convert_official_multimae(official, encoder_only=True)
    encoder = build_official_encoder(fixture)
    result = load_converted(encoder, converted)
    assert result == ([], [], [])
    partial = dict(converted)
    del partial['blocks.0.norm1.weight']
    partial['blocks.0.extra'] = torch.zeros(1)
    with pytest.raises(KeyError, match=r'norm1\.weight.*blocks\.0\.extra'):
        load_converted(encoder, partial)
    result = load_converted(encoder, partial, strict=False)
    assert result.missing_keys == ['blocks.0.norm1.weight']
    assert result.unexpected_keys == ['blocks.0.extra']
    # Fine-tuning at another resolution: official resizes the checkpoint
    # tables bicubic; without a mode the mismatch is an error.
    for name, head in fixture['finetune_heads'].items():
        model_rec = head['model']
        overrides = model_rec['encoder_state_dict_overrides']
        small = build_official_encoder(
            fixture, image_size=tuple(model_rec['image_size']))
        with pytest.raises(ValueError, match='adapters.rgb.pos_embed'):
            load_converted(small, converted)
        result = load_converted(small, converted, pos_embed_mode='bicubic')
        assert 'adapters.rgb.pos_embed' in result.resized_keys
        torch.testing.assert_close(
            small.adapters['rgb'].pos_embed,
            overrides['input_adapters.rgb.pos_emb'],
            rtol=0,
            atol=1e-6)
        break


def _run_tool(name, argv, monkeypatch):
    monkeypatch.setattr(sys, 'argv', [name] + argv)
    runpy.run_path(
        osp.join(ROOT, 'tools', 'model_converters', name), run_name='__main__')


def test_converter_tools(fixture, tmp_path, monkeypatch, capsys):
    official = fixture['pretrain']['state_dict']
    src = str(tmp_path / 'official.pth')
    torch.save({'model': official, 'epoch': 1}, src)
    ours, timm_file, back = (
        str(tmp_path / n) for n in ('ours.pth', 'timm.pth', 'back.pth'))
    _run_tool('multimae2mmmultimae.py', [src, ours], monkeypatch)
    saved = torch.load(ours, weights_only=True)['state_dict']
    assert saved.keys() == convert_official_multimae(official).keys()
    with pytest.warns(UserWarning):
        _run_tool('mmmultimae2timm.py', [ours, timm_file], monkeypatch)
    out = capsys.readouterr().out
    assert "Missing keys (2): ['norm.weight', 'norm.bias']" in out
    assert 'Unexpected keys (0)' in out
    exported = torch.load(timm_file, weights_only=True)
    reference = fixture['timm_format']['multimae_to_vit']
    assert all(torch.equal(exported[k], reference[k]) for k in reference)
    grid = [str(s) for s in fixture['meta']['grid']]
    _run_tool('timm2mmmultimae.py', [timm_file, back, '--grid'] + grid,
              monkeypatch)
    restored = torch.load(back, weights_only=True)['state_dict']
    encoder = convert_official_multimae(official, encoder_only=True)
    for key, value in restored.items():
        assert torch.equal(value, encoder[key]), key
