# Copyright (c) mmmultimae contributors. All rights reserved.
import re

import pytest
import torch
from mmengine.optim import (CosineAnnealingLR, LinearLR, OptimWrapper,
                            build_optim_wrapper)
from mmengine.registry import DefaultScope
from official_fixtures import load_transfer_fixture
from torch import nn

from mmmultimae.engine.optimizers import \
    layer_decay_optim_wrapper_constructor as layer_decay
from mmmultimae.engine.optimizers.mixed_precision_optim_wrapper import \
    MixedPrecisionOptimWrapper
from mmmultimae.models.backbones.multivit import MultiViT
from mmmultimae.models.converters import (convert_official_encoder_cfg,
                                          convert_official_multimae)
from mmmultimae.registry import MODELS

HEAD_PREFIX = re.compile(r'output_adapters\.\w+\.')


@pytest.fixture(scope='module')
def section():
    return load_transfer_fixture()['layer_decay']


def _our_name(official: str) -> str:
    """Official MultiViT parameter name -> our segmentor's."""
    head = HEAD_PREFIX.match(official)
    if head:
        return 'decode_head.' + official[head.end():]
    (name, ) = convert_official_multimae({official: torch.empty(0)},
                                         encoder_only=True)
    return 'backbone.' + name


def _standin_head(names):
    """A module with the given parameter names. The layer id and weight
    decay of a head parameter depend on its name and ndim only: biases and
    LayerNorm weights (modules named ``*norm*``) are 1-D; every other weight
    of the official heads is a conv or linear weight (>= 2-D)."""
    head = nn.Module()
    for name in names:
        *path, leaf = name.split('.')
        module = head
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, nn.Module())
            module = getattr(module, part)
        one_dim = leaf == 'bias' or 'norm' in path[-1]
        module.register_parameter(
            leaf, nn.Parameter(torch.zeros((2, ) if one_dim else (2, 2))))
    return head


def _model_for(case):
    record = case['model']
    model = nn.Module()
    model.backbone = MODELS.build(
        convert_official_encoder_cfg(record['encoder'],
                                     record['input_adapters']))
    return model


def _constructor(args):
    return layer_decay.LayerDecayOptimWrapperConstructor(
        dict(
            optimizer=dict(
                type='AdamW',
                lr=args['lr'],
                weight_decay=args['weight_decay'],
                eps=args['opt_eps'],
                betas=tuple(args['opt_betas']))),
        paramwise_cfg=dict(
            layer_decay_rate=args['layer_decay'],
            scale_input_lr=args.get('scale_input_lr', True)))


def test_official_parameter_groups(section):
    cases = section['inputs']['cases']
    assert len(cases) == len(section['outputs']['cases']) >= 9
    for name, case in cases.items():
        record = section['outputs']['cases'][name]
        args = case['args']
        assert args['opt'] == 'adamw' and args['decoder_decay'] is None
        assert not args.get('no_lr_scale_list')
        model = _model_for(case)
        head_names = [
            _our_name(n)[len('decode_head.'):] for n in record['per_param']
            if HEAD_PREFIX.match(n)
        ]
        model.decode_head = _standin_head(head_names)

        with DefaultScope.overwrite_default_scope('mmmultimae'):
            wrapper = _constructor(args)(model)
        groups = wrapper.optimizer.param_groups
        ours = {}
        for group in groups:
            for param_name in group['param_names']:
                ours[param_name] = group
        # every recorded trainable parameter: same lr scale, weight decay,
        # layer id and group; nothing more is trainable on our side
        expected = {_our_name(n): v for n, v in record['per_param'].items()}
        assert set(ours) == set(expected), name
        for param_name, official in expected.items():
            group = ours[param_name]
            assert group['lr_scale'] == pytest.approx(
                official['lr_scale'], rel=1e-12, abs=0), (name, param_name)
            assert group['weight_decay'] == official['weight_decay'], (
                name, param_name)
            assert group['layer_id'] == official['layer_id']
            assert group['name'] == official['group']
            assert group['lr'] == pytest.approx(
                args['lr'] * official['lr_scale'], rel=1e-12)
        # the official quirk: the semseg class embedding gets weight decay
        for param_name, official in record['per_param'].items():
            if param_name.endswith('class_emb.weight'):
                assert official['weight_decay'] == args['weight_decay']
        # frozen (fixed sin-cos tables): in no group on both sides
        frozen = {
            n
            for n, p in model.named_parameters() if not p.requires_grad
        }
        assert frozen == {_our_name(n) for n in record['frozen']}, name
        # same groups (official: 12, in order of first appearance; ours:
        # by decreasing layer id, so the first group has the base lr)
        official_groups = {
            g['name']: {_our_name(n)
                        for n in g['params']}
            for g in record['param_groups']
        }
        assert len(groups) == len(official_groups), name
        assert [g['layer_id'] for g in groups] == sorted(
            (g['layer_id'] for g in groups), reverse=True)
        assert groups[0]['lr_scale'] == 1
        for group in groups:
            assert set(
                group['param_names']) == official_groups[group['name']], (
                    name, group['name'])
        for official_group in record['param_groups']:
            group = next(g for g in groups
                         if g['name'] == official_group['name'])
            assert group['lr_scale'] == pytest.approx(
                official_group['lr_scale'], rel=1e-12)
            assert group['weight_decay'] == official_group['weight_decay']
        # the assigner's table, incl. scale_input_lr=False (value 0 -> 1.0)
        depths = record['num_layers'] + 2
        assert [
            layer_decay.lr_decay_scale(i, depths, args['layer_decay'],
                                       args.get('scale_input_lr', True))
            for i in range(depths)
        ] == pytest.approx(
            record['assigner_values'], rel=1e-12)
        defaults = record['optimizer']['defaults']
        assert wrapper.optimizer.defaults['lr'] == defaults['lr']
        assert wrapper.optimizer.defaults['eps'] == defaults['eps']


def test_official_layer_id_probe(section):
    """Our MultiViT.get_layer_depth on the probe names that have a
    MultiViT counterpart (timm/BEiT names have none)."""
    probe = section['outputs']['get_num_layer_for_vit_probe']
    num_depths = section['inputs']['probe_num_max_layer']
    encoder = MultiViT(
        adapters=dict(
            rgb=dict(type='PatchInputAdapter', in_channels=3, image_size=32)),
        embed_dims=16,
        num_layers=num_depths - 2,
        num_heads=2)
    checked = 0
    for official, layer_id in probe.items():
        try:
            ours = _our_name(official)
        except ValueError:
            continue
        assert encoder.get_layer_depth(ours,
                                       'backbone.') == (layer_id,
                                                        num_depths), official
        checked += 1
    assert checked >= 7


def _tiny_segmentor():
    model = nn.Module()
    model.backbone = MultiViT(
        adapters=dict(
            rgb=dict(type='PatchInputAdapter', in_channels=3, image_size=32)),
        embed_dims=16,
        num_layers=2,
        num_heads=2)
    model.decode_head = nn.Sequential(nn.LayerNorm(16), nn.Linear(16, 3))
    return model


def _wrapper(model, layer_decay_rate=0.5, **kwargs):
    cfg = dict(
        optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.1),
        constructor='LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=layer_decay_rate))
    cfg.update(kwargs)
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        return build_optim_wrapper(model, cfg)


def test_optimizer_step_applies_group_lr_and_decay():
    """AdamW with zero gradients only applies decoupled weight decay:
    ``p <- p * (1 - lr * lr_scale * wd)``, so one step shows every group's
    lr and weight decay."""
    torch.manual_seed(0)
    model = _tiny_segmentor()
    wrapper = _wrapper(model)
    assert type(wrapper) is OptimWrapper
    names = {g['name'] for g in wrapper.optimizer.param_groups}
    assert names == {
        f'layer_{i}_{k}'
        for i in range(4)
        for k in ('decay', 'no_decay')
    }
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss = sum(p.sum() * 0 for p in model.parameters() if p.requires_grad)
    wrapper.update_params(loss)
    group_of = {
        n: g
        for g in wrapper.optimizer.param_groups
        for n in g['param_names']
    }
    for name, param in model.named_parameters():
        if not param.requires_grad:
            assert name == 'backbone.adapters.rgb.pos_embed'
            assert name not in group_of
            continue
        group = group_of[name]
        layer = group['layer_id']
        assert group['lr_scale'] == 0.5**(3 - layer)
        factor = 1 - 1e-2 * 0.5**(3 - layer) * group['weight_decay']
        torch.testing.assert_close(param.detach(), before[name] * factor)
    assert group_of['backbone.global_tokens']['weight_decay'] == 0
    assert group_of['backbone.blocks.1.attn.qkv.weight']['weight_decay'] \
        == 0.1
    assert group_of['backbone.blocks.1.norm1.weight']['weight_decay'] == 0
    assert group_of['decode_head.1.weight']['layer_id'] == 3


def test_schedulers_keep_the_ratios():
    model = _tiny_segmentor()
    wrapper = _wrapper(model)
    warmup = LinearLR(
        wrapper, start_factor=0.1, by_epoch=False, begin=0, end=3)
    cosine = CosineAnnealingLR(
        wrapper, T_max=5, eta_min_ratio=0.01, by_epoch=False, begin=3, end=8)
    for _ in range(8):
        head_lr = next(g['lr'] for g in wrapper.optimizer.param_groups
                       if g['lr_scale'] == 1)
        for group in wrapper.optimizer.param_groups:
            assert group['lr'] == pytest.approx(
                head_lr * group['lr_scale'], rel=1e-9)
        wrapper.step()
        warmup.step()
        cosine.step()


def test_mixed_precision_wrapper():
    torch.manual_seed(0)
    model = _tiny_segmentor()
    wrapper = _wrapper(
        model, type='MixedPrecisionOptimWrapper', dtype='bfloat16')
    assert isinstance(wrapper, MixedPrecisionOptimWrapper)
    before = model.decode_head[1].weight.detach().clone()
    rgb = torch.rand(2, 3, 32, 32)
    with wrapper.optim_context(model):
        feats = model.backbone(dict(rgb=rgb))[-1]
        logits = model.decode_head(feats.mean((2, 3)))
        loss = logits.float().square().mean()
    wrapper.update_params(loss)
    assert not torch.equal(before, model.decode_head[1].weight)
    assert wrapper.optimizer.param_groups[0]['name'].startswith('layer_')


def test_model_rules_and_declared_names():

    class Toy(nn.Module):
        """A model with its own get_layer_depth and no_weight_decay."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Linear(2, 2)
            self.token = nn.Parameter(torch.zeros(1, 1, 2))
            self.table = nn.Parameter(torch.zeros(2, 2))
            self.frozen = nn.Parameter(torch.zeros(2, 2), requires_grad=False)

        def get_layer_depth(self, name):
            return (0 if name.startswith('stem') else 1), 2

        def no_weight_decay(self):
            return {'table'}

    model = Toy()
    wrapper = _wrapper(
        model,
        paramwise_cfg=dict(layer_decay_rate=0.5, no_decay_names=['token']))
    groups = {g['name']: g for g in wrapper.optimizer.param_groups}
    assert groups['layer_0_decay']['param_names'] == ['stem.weight']
    assert groups['layer_0_decay']['lr_scale'] == 0.5
    assert groups['layer_0_no_decay']['param_names'] == ['stem.bias']
    assert groups['layer_1_no_decay']['param_names'] == ['token', 'table']
    assert 'layer_1_decay' not in groups
    # scale_input_lr=False: layer 0 at the full lr
    wrapper = _wrapper(
        model, paramwise_cfg=dict(layer_decay_rate=0.5, scale_input_lr=False))
    assert all(g['lr_scale'] == 1 for g in wrapper.optimizer.param_groups)


def test_bad_configs():
    model = _tiny_segmentor()
    with pytest.raises(ValueError, match=r"unknown paramwise_cfg keys \['x'"):
        _wrapper(model, paramwise_cfg=dict(x=1))
    with pytest.raises(ValueError, match='layer_decay_rate'):
        _wrapper(model, layer_decay_rate=1.5)
    with pytest.raises(ValueError, match='weight_decay'):
        _wrapper(model, optimizer=dict(type='AdamW', lr=1e-3))
    with pytest.raises(TypeError, match='get_layer_depth'):
        _wrapper(nn.Linear(2, 2))
    with pytest.raises(TypeError, match='no_decay_names'):
        _wrapper(model, paramwise_cfg=dict(no_decay_names=[1]))
