# Copyright (c) mmmultimae contributors. All rights reserved.
"""The MultiViT image classifier: official layer-decay groups, every
checkpoint source, linear probing, the head's pooling and init, errors.

(The head's conformance with the official ``LinearOutputAdapter`` is in
``tests/test_models/test_decode_heads/test_official_heads.py``.)
"""
import math
import os.path as osp
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample
from official_fixtures import load_official_fixture, load_transfer_fixture

from mmmultimae.models.classifiers import (MultiViTClassifier, MultiViTClsHead,
                                           convert_official_cls_head,
                                           convert_official_cls_head_cfg,
                                           pool_tokens)
from mmmultimae.models.converters import (convert_official_encoder_cfg,
                                          convert_official_multimae,
                                          multivit_to_timm)
from mmmultimae.registry import MODELS
from mmmultimae.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


@pytest.fixture(autouse=True)
def scope():
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        yield


def tiny_cfg(**head) -> dict:
    return dict(
        type='MultiViTClassifier',
        data_preprocessor=dict(
            num_classes=3,
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            to_rgb=True),
        backbone=dict(
            type='MultiViT',
            adapters=dict(
                rgb=dict(
                    type='PatchInputAdapter',
                    in_channels=3,
                    patch_size=8,
                    image_size=32)),
            embed_dims=32,
            num_layers=2,
            num_heads=2),
        head=dict(
            type='MultiViTClsHead', num_classes=3, in_channels=32, **head))


def batch(num: int = 4) -> dict:
    torch.manual_seed(0)
    return dict(
        inputs=[
            torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
            for _ in range(num)
        ],
        data_samples=[DataSample().set_gt_label(i % 3) for i in range(num)])


# -- layer-wise lr decay: the official groups ------------------------------
OFFICIAL_HEAD = re.compile(r'output_adapters\.cls\.(norm|head)\.')


def our_name(official: str) -> str:
    """Official MultiViT + LinearOutputAdapter name -> our classifier's."""
    head = OFFICIAL_HEAD.match(official)
    if head:
        part = 'fc' if head[1] == 'head' else 'norm'
        return f'head.{part}.' + official[head.end():]
    (name, ) = convert_official_multimae({official: torch.empty(0)},
                                         encoder_only=True)
    return 'backbone.' + name


@pytest.mark.parametrize('case', ['cls_linear@ld=0.65', 'cls_linear@ld=0.75'])
def test_official_layer_decay_groups(case):
    """Our classifier + LayerDecayOptimWrapperConstructor give the
    parameter groups the official run_finetuning_cls.py builds."""
    section = load_transfer_fixture()['layer_decay']
    spec = section['inputs']['cases'][case]
    record = section['outputs']['cases'][case]
    args = spec['args']
    model_spec = spec['model']
    backbone = convert_official_encoder_cfg(model_spec['encoder'],
                                            model_spec['input_adapters'])
    head = convert_official_cls_head_cfg(
        model_spec['output_adapters']['cls']['kwargs'],
        model_spec['encoder']['dim_tokens'])
    model = MODELS.build(
        dict(type='MultiViTClassifier', backbone=backbone, head=head))
    wrapper = build_optim_wrapper(
        model,
        dict(
            optimizer=dict(
                type='AdamW',
                lr=args['lr'],
                weight_decay=args['weight_decay'],
                betas=tuple(args['opt_betas']),
                eps=args['opt_eps']),
            constructor='LayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=args['layer_decay'])))
    groups = wrapper.optimizer.param_groups
    ours = {n: g for g in groups for n in g['param_names']}
    expected = {our_name(n): v for n, v in record['per_param'].items()}
    assert set(ours) == set(expected)
    for name, official in expected.items():
        group = ours[name]
        assert group['lr_scale'] == pytest.approx(official['lr_scale'],
                                                  rel=1e-12), name
        assert group['weight_decay'] == official['weight_decay'], name
        assert group['layer_id'] == official['layer_id'], name
        assert group['name'] == official['group'], name
    assert len(groups) == len(record['param_groups'])
    # frozen sin-cos tables: in no group, on both sides
    assert {n for n, p in model.named_parameters() if not p.requires_grad
            } == {our_name(n) for n in record['frozen']}


# -- checkpoint sources ----------------------------------------------------
def fixture_classifier(checkpoint: str) -> MultiViTClassifier:
    """The fixture's encoder (96-d, 4 blocks) at 32 x 64 with a 5-class
    head, initialised from ``checkpoint``."""
    meta = load_official_fixture()['meta']['pretrain_model']
    adapters = {'rgb': dict(meta['input_adapters']['rgb'])}
    adapters['rgb']['kwargs'] = dict(
        adapters['rgb']['kwargs'], image_size=(32, 64))
    backbone = convert_official_encoder_cfg(meta['kwargs'], adapters)
    backbone['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint)
    model = MODELS.build(
        dict(
            type='MultiViTClassifier',
            backbone=backbone,
            head=dict(
                type='MultiViTClsHead', num_classes=5, in_channels=96)))
    model.init_weights()
    return model


@pytest.mark.parametrize(
    'source', ['official', 'timm', 'ours-pretraining', 'ours-classifier'])
def test_built_from_every_checkpoint_source(source, tmp_path):
    fixture = load_official_fixture()
    official = fixture['pretrain']['state_dict']
    encoder = convert_official_multimae(official, encoder_only=True)
    if source == 'official':
        checkpoint = {'model': official}
    elif source == 'timm':  # a timm / MAE ViT (square 4 x 4 grid)
        square = dict(encoder)
        square['adapters.rgb.pos_embed'] = square[
            'adapters.rgb.pos_embed'][..., :4].contiguous()
        checkpoint = {'model': multivit_to_timm(square)}
    elif source == 'ours-pretraining':
        checkpoint = {
            'state_dict': {
                **{f'encoder.{k}': v
                   for k, v in encoder.items()}, 'heads.rgb.decoder.w':
                torch.zeros(1)
            }
        }
    else:  # a fine-tuned classifier of other classes: head dropped
        checkpoint = {
            'state_dict': {
                **{f'backbone.{k}': v
                   for k, v in encoder.items()}, 'head.fc.weight':
                torch.zeros(7, 96)
            }
        }
    path = str(tmp_path / 'source.pth')
    torch.save(checkpoint, path)
    model = fixture_classifier(path)
    own = model.backbone.state_dict()
    for key in ('global_tokens', 'blocks.3.mlp.fc2.weight',
                'adapters.rgb.proj.weight'):
        assert torch.equal(own[key], encoder[key]), (source, key)
    # the 4 x 6 table of pre-training, resized bicubic to the 2 x 4 grid
    assert own['adapters.rgb.pos_embed'].shape == (1, 96, 2, 4)
    # the head is new: normal(0.02) x 0.001 (timm's trunc_normal_ cuts at
    # +-2 absolute, as the official head's)
    assert model.head.fc.weight.shape == (5, 96)
    assert 0 < model.head.fc.weight.abs().max() < 5 * 0.02 * 0.001


# -- linear probing ---------------------------------------------------------
def test_frozen_backbone_trains_only_the_head():
    model = MODELS.build(
        tiny_cfg(norm_cfg=dict(type='BN1d', affine=False, eps=1e-6)) |
        dict(freeze_backbone=True))
    model.init_weights()
    wrapper = build_optim_wrapper(
        model,
        dict(optimizer=dict(type='mmpretrain.LARS', lr=0.5, momentum=0.9)))
    model.train()
    assert not model.backbone.training and model.head.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train_step(batch(), wrapper)
    after = model.state_dict()
    for key, value in before.items():
        changed = not torch.equal(value, after[key])
        # the head's weights and BatchNorm statistics move, nothing else
        assert changed == key.startswith('head.'), key
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.head.norm.weight is None  # BatchNorm without affine


def test_linear_probe_head_init():
    head = MultiViTClsHead(
        num_classes=100,
        in_channels=64,
        norm_cfg=dict(type='BN1d', affine=False, eps=1e-6),
        init_scale=1.,
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.01))
    torch.manual_seed(0)
    head.init_weights()
    assert head.fc.weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert not head.fc.bias.any()


# -- the head ---------------------------------------------------------------
def test_pooling_is_official():
    tokens = torch.randn(2, 5, 8)
    # the mean over all tokens, the global token (last) included
    assert torch.equal(pool_tokens(tokens, 'mean'), tokens.mean(1))
    assert torch.equal(pool_tokens(tokens, 'global_token'), tokens[:, 4])
    with pytest.raises(ValueError, match='pool must be one of'):
        pool_tokens(tokens, 'cls')
    with pytest.raises(ValueError, match=r'\(B, N, D\), got shape \(2, 8\)'):
        pool_tokens(tokens[:, 0], 'mean')


def test_head_init_scale_and_official_effective_init():
    torch.manual_seed(0)
    head = MultiViTClsHead(num_classes=10, in_channels=64)
    head.init_weights()
    weight = head.fc.weight
    assert weight.std().item() == pytest.approx(0.02 * 0.001, rel=0.2)
    assert not head.fc.bias.any()
    # None: xavier-uniform, what official MultiMAE's re-init leaves
    head = MultiViTClsHead(num_classes=10, in_channels=64, init_scale=None)
    head.init_weights()
    bound = math.sqrt(6 / (64 + 10))
    assert head.fc.weight.abs().max() <= bound
    assert head.fc.weight.abs().max() > 0.8 * bound


def test_head_rejects_bad_inputs():
    head = MultiViTClsHead(num_classes=3, in_channels=32)
    with pytest.raises(ValueError, match=r'\(B, N, 32\), got shape'):
        head((torch.randn(2, 5, 16), ))
    with pytest.raises(ValueError, match='pool must be one of'):
        MultiViTClsHead(num_classes=3, in_channels=32, pool='max')
    with pytest.raises(ValueError, match='num_classes'):
        MultiViTClsHead(num_classes=0, in_channels=32)


def test_official_head_conversion():
    state = {k: torch.zeros(1) for k in ('norm.weight', 'norm.bias')}
    state.update({'head.weight': torch.ones(2), 'head.bias': torch.ones(1)})
    out = convert_official_cls_head(state)
    assert set(out) == {'norm.weight', 'norm.bias', 'fc.weight', 'fc.bias'}
    assert out['fc.weight'] is state['head.weight']
    with pytest.raises(ValueError, match=r"unknown keys \['x'\], missing "
                       r"\['fc.bias'\]"):
        convert_official_cls_head({
            'x': 1,
            **{k: v
               for k, v in state.items() if k != 'head.bias'}
        })
    assert convert_official_cls_head_cfg(
        dict(num_classes=10, use_mean_pooling=False, init_scale=0.001),
        96) == dict(
            type='MultiViTClsHead',
            num_classes=10,
            in_channels=96,
            pool='global_token',
            init_scale=0.001)
    with pytest.raises(ValueError, match='Unsupported.*foo'):
        convert_official_cls_head_cfg(dict(num_classes=3, foo=1), 96)
    with pytest.raises(ValueError, match='eps'):
        convert_official_cls_head_cfg(
            dict(num_classes=3, norm_layer='LayerNorm(eps=1e-05)'), 96)


# -- the classifier ---------------------------------------------------------
def test_predict_gives_data_samples_and_features():
    model = MODELS.build(tiny_cfg())
    model.init_weights()
    model.eval()
    with torch.no_grad():
        out = model.test_step(batch(2))
    assert len(out) == 2 and isinstance(out[0], DataSample)
    scores = torch.stack([o.pred_score for o in out])
    assert scores.shape == (2, 3)
    assert torch.allclose(scores.sum(1), torch.ones(2))
    assert [int(o.pred_label) for o in out] == scores.argmax(1).tolist()
    assert [int(o.gt_label) for o in out] == [0, 1]
    x = torch.randn(2, 3, 32, 32)
    (tokens, ) = model.extract_feat(x, stage='backbone')
    assert tokens.shape == (2, 16 + 1, 32)  # 4 x 4 patches + global token
    assert model.extract_feat(x, stage='pre_logits').shape == (2, 32)
    # a dict of modalities is passed on as it is
    assert torch.equal(
        model(dict(rgb=x), mode='tensor'), model(x, mode='tensor'))
    # benchmarks: a random preprocessed batch with labels of the head
    inputs, samples = model.example_batch(3)
    assert inputs.shape == (3, 3, 32, 32) and len(samples) == 3
    assert set(model(inputs, samples, mode='loss')) == {'loss'}


def test_mixup_cutmix_targets_are_soft():
    model = MODELS.build(
        tiny_cfg(
            loss=dict(
                type='mmpretrain.LabelSmoothLoss',
                label_smooth_val=0.1,
                mode='original')) |
        dict(
            train_cfg=dict(augments=[
                dict(type='Mixup', alpha=0.8),
                dict(type='CutMix', alpha=1.0)
            ])))
    data = model.data_preprocessor(batch(), training=True)
    scores = torch.stack([s.gt_score for s in data['data_samples']])
    assert scores.shape == (4, 3)
    assert torch.allclose(scores.sum(1), torch.ones(4))
    assert (scores.max(1).values < 1).any()  # mixed


def test_modality_must_have_an_adapter():
    with pytest.raises(ValueError, match=r"modality 'depth' has no input "
                       r"adapter; the backbone has \['rgb'\]"):
        MODELS.build(tiny_cfg() | dict(modality='depth'))


def test_only_classification_imports_mmpretrain():
    code = textwrap.dedent('''
        import sys
        from mmengine.config import Config
        from mmmultimae.registry import MODELS
        from mmmultimae.utils import register_all_modules
        register_all_modules()
        cfg = Config.fromfile(
            'configs/multimae/multimae_vit-tiny-6l-p8_1xb32-16e_'
            'synthetic-demo.py')
        MODELS.build(cfg.model)
        assert 'mmpretrain' not in sys.modules, 'pre-training'
        cfg = Config.fromfile(
            'configs/multimae/benchmarks/semseg/multimae_vit-tiny-6l-p8_'
            'convnext_1xb8-3e_synthetic-64x64-rgb.py')
        cfg.model.backbone.init_cfg = None
        MODELS.build(cfg.model)
        assert 'mmpretrain' not in sys.modules, 'segmentation'
        MODELS.build(dict(type='MultiViTClassifier', backbone=dict(
            type='MultiViT', adapters=dict(rgb=dict(
                type='PatchInputAdapter', in_channels=3, image_size=32)),
            embed_dims=16, num_layers=1, num_heads=2),
            head=dict(type='MultiViTClsHead', num_classes=2,
                      in_channels=16)))
        assert 'mmpretrain' in sys.modules
        print('OK')
    ''')
    proc = subprocess.run([sys.executable, '-c', code],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'OK' in proc.stdout
