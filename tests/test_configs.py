# Copyright (c) mmmultimae contributors. All rights reserved.
"""Every config loads, its model builds, and the paper settings hold."""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmmultimae.registry import MODELS
from mmmultimae.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'multimae', '*.py')))
MAIN = 'multimae_vit-b-p16_8xb256-amp-coslr-1600e_in1k-rgb-depth-semseg.py'


def load(name: str) -> Config:
    return Config.fromfile(osp.join(ROOT, 'configs', 'multimae', name))


def test_config_folder_has_every_variant():
    names = {osp.basename(p) for p in CONFIGS}
    stem = 'multimae_vit-b-p16_8xb256-amp-coslr-400e_in1k-rgb-depth-semseg'
    expected = {
        MAIN, f'{stem}.py', f'{stem}_alpha-0.2.py', f'{stem}_alpha-0.5.py',
        f'{stem}_alpha-1.0.py', f'{stem}_alpha-inf.py',
        'multimae_vit-b-p16_8xb256-amp-coslr-400e_in1k-rgb-depth.py',
        'multimae_vit-b-p16_8xb256-amp-coslr-400e_in1k-rgb-semseg.py',
        'mae_vit-b-p16-d2_8xb512-amp-coslr-1600e_in1k.py',
        'mae_vit-b-p16-d8_8xb512-amp-coslr-1600e_in1k.py',
        MAIN.replace('.py', '_enc-mask-tokens.py'),
        'multimae_vit-l-p16_8xb256-amp-coslr-1600e_in1k-rgb-depth-semseg.py',
        'multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py'
    }
    assert expected <= names, sorted(expected - names)
    readme = open(osp.join(ROOT, 'configs', 'multimae', 'README.md')).read()
    for name in names:
        assert name in readme, f'{name} is not in configs/multimae/README.md'


def inheritance_depth(path: str) -> int:
    """Levels of ``_base_`` files below a config (0: none)."""
    bases = Config._get_base_files(path)
    return max((1 + inheritance_depth(
        osp.normpath(osp.join(osp.dirname(path), base))) for base in bases),
               default=0)


@pytest.mark.parametrize(
    'path',
    sorted(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                     recursive=True)),
    ids=lambda p: osp.relpath(p, osp.join(ROOT, 'configs')))
def test_at_most_three_levels_of_inheritance(path):
    assert inheritance_depth(path) <= 3


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path):
    register_all_modules()
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params > 0
    # the optimizer wrapper builds too (mixed precision works on CPU)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert wrapper.optimizer.defaults['weight_decay'] == \
        cfg.optim_wrapper.optimizer.weight_decay
    # the dataset pipeline's modalities are the model's inputs
    dataset = cfg.train_dataloader.dataset
    assert tuple(dataset.modalities) == tuple(model.input_modalities)
    assert cfg.train_dataloader.collate_fn.type == 'pseudo_collate'
    # the schedule ends where the loop ends (mmengine ends a scheduler
    # without ``end`` at max_epochs)
    end = max(
        s.get('end', cfg.train_cfg.max_epochs) for s in cfg.param_scheduler)
    assert end == cfg.train_cfg.max_epochs
    # every config stops on a non-finite loss and reseeds per step
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert 'CheckFiniteLossHook' in hooks and 'StepSeedHook' in hooks


def _schedule(cfg: Config, epochs: int) -> None:
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and cosine.type == 'CosineAnnealingLR'
    assert warmup.begin == 0 and warmup.end == 40
    # no end / T_max: mmengine ends the cosine at max_epochs, so
    # T_max = max_epochs - 40
    assert cosine.begin == 40 and 'end' not in cosine
    assert 'T_max' not in cosine and cosine.eta_min == 0
    for s in (warmup, cosine):
        assert s.by_epoch and s.convert_to_iter_based
    assert cfg.train_cfg == dict(type='EpochBasedTrainLoop', max_epochs=epochs)


def test_main_config_matches_paper_table1():
    register_all_modules()
    cfg = load(MAIN)
    model = MODELS.build(cfg.model)
    # ViT-B/16 at 224, 1 global token, 98 visible tokens, alpha = 1
    enc = model.encoder
    assert (enc.embed_dims, enc.num_layers, enc.num_heads) == (768, 12, 12)
    assert enc.num_global_tokens == 1
    assert list(enc.adapters) == ['rgb', 'depth', 'semseg']
    assert enc.adapters['rgb'].image_size == (224, 224)
    assert enc.adapters['semseg'].num_classes == 133
    assert enc.adapters['semseg'].stride_level == 4
    sampler = model.mask_sampler
    assert type(sampler).__name__ == 'DirichletMaskSampler'
    assert sampler.num_visible == 98 and sampler.alpha == [1.0]
    # four 256-d x 2-block x 8-head decoders, semseg at 1/4 res in fp32
    assert list(model.heads) == ['rgb', 'norm_rgb', 'depth', 'semseg']
    for name, head in model.heads.items():
        dec = head.decoder
        assert type(dec).__name__ == 'SpatialDecoder'
        assert dec.embed_dims == 256 and len(dec.blocks) == 2
        assert dec.blocks[0].attn.num_heads == 8
    assert model.heads['semseg'].patch_size == (4, 4)
    assert model.heads['norm_rgb'].decoder.query_modality == 'rgb'
    assert model.heads['norm_rgb'].target == 'rgb'
    assert [n for n, h in model.heads.items() if h.fp32_under_fp16] == \
        ['semseg']
    losses = {k: type(h.loss_module).__name__ for k, h in model.heads.items()}
    assert losses == dict(
        rgb='MaskedMSELoss',
        norm_rgb='MaskedMSELoss',
        depth='MaskedL1Loss',
        semseg='MaskedCrossEntropyLoss')
    assert model.heads['norm_rgb'].norm_target
    assert not model.heads['rgb'].norm_target
    # AdamW, lr = 1e-4 x 2048 / 256, betas (0.9, 0.95), wd 0.05, bf16
    opt = cfg.optim_wrapper
    assert opt.type == 'MixedPrecisionOptimWrapper'
    assert opt.dtype == 'bfloat16'
    assert opt.optimizer.type == 'AdamW'
    assert math.isclose(opt.optimizer.lr, 8e-4)
    assert tuple(opt.optimizer.betas) == (0.9, 0.95)
    assert opt.optimizer.weight_decay == 0.05
    assert 'paramwise_cfg' not in opt  # decay on all parameters (official)
    assert cfg.auto_scale_lr == dict(base_batch_size=2048, enable=False)
    # warmup from 1e-6, 40 epochs, cosine to 0, 1600 epochs
    assert math.isclose(cfg.param_scheduler[0].start_factor * 8e-4, 1e-6)
    _schedule(cfg, 1600)
    # 8 x 256, aligned crop 0.2-1 / 3:4-4:3 at 224, flip 0.5
    loader = cfg.train_dataloader
    assert loader.batch_size == 256 and loader.num_workers == 10
    assert loader.pin_memory and loader.persistent_workers
    assert loader.sampler == dict(type='DefaultSampler', shuffle=True)
    crop = [
        t for t in loader.dataset.pipeline if t.type in (
            'MultiModalRandomResizedCrop', 'LoadMultiModalRandomResizedCrop')
    ][0]
    assert crop.size == 224 and tuple(crop.scale) == (0.2, 1.0)
    assert math.isclose(crop.ratio[0], 3 / 4)
    assert loader.dataset.type == 'MultiModalImageFolder'
    assert loader.dataset.data_root == 'data/imagenet_multitask'
    assert loader.dataset.data_prefix == dict(img_path='train')


def test_400e_and_table6_variants():
    register_all_modules()
    _schedule(load(MAIN.replace('1600e', '400e')), 400)
    stem = MAIN.replace('1600e', '400e')[:-3]
    for alpha, expected in (('0.2', [0.2]), ('0.5', [0.5]), ('1.0', [1.0]),
                            ('inf', [math.inf])):
        cfg = load(f'{stem}_alpha-{alpha}.py')
        _schedule(cfg, 400)
        model = MODELS.build(cfg.model)
        assert model.mask_sampler.alpha == expected
        assert model.mask_sampler.num_visible == 98
        # Table 6 models have no per-patch standardised rgb decoder
        assert list(model.heads) == ['rgb', 'depth', 'semseg']
        assert {n: h.target for n, h in model.heads.items()} == dict(
            rgb='rgb', depth='depth', semseg='semseg')
    assert MODELS.build(
        load(f'{stem}_alpha-inf.py').model).mask_sampler.equal_split


@pytest.mark.parametrize('modalities', [('rgb', 'depth'), ('rgb', 'semseg')])
def test_table7_modality_variants(modalities):
    register_all_modules()
    name = ('multimae_vit-b-p16_8xb256-amp-coslr-400e_in1k-' +
            '-'.join(modalities) + '.py')
    cfg = load(name)
    model = MODELS.build(cfg.model)
    assert list(model.encoder.adapters) == list(modalities)
    assert set(model.heads) == set(modalities) | {'norm_rgb'}
    assert model.mask_sampler.num_visible == 98
    loads = [
        t for t in cfg.train_dataloader.dataset.pipeline if t.type in (
            'LoadMultiModalImages', 'LoadMultiModalRandomResizedCrop')
    ]
    assert tuple(loads[0].modalities) == modalities
    _schedule(cfg, 400)


@pytest.mark.parametrize('variant,dims,layers,heads', [('d8', 512, 8, 16),
                                                       ('d2', 256, 2, 8)])
def test_mae_baselines(variant, dims, layers, heads):
    register_all_modules()
    cfg = load(f'mae_vit-b-p16-{variant}_8xb512-amp-coslr-1600e_in1k.py')
    model = MODELS.build(cfg.model)
    assert list(model.encoder.adapters) == ['rgb']
    assert type(model.mask_sampler).__name__ == 'UniformMaskSampler'
    assert model.mask_sampler.num_visible == 49
    dec = model.heads['rgb'].decoder
    assert type(dec).__name__ == 'MAEDecoder'
    assert (dec.embed_dims, len(dec.blocks)) == (dims, layers)
    assert dec.blocks[0].attn.num_heads == heads
    assert model.heads['rgb'].norm_target
    # MAE recipe: 4096 images, lr 1.5e-4 x 16, no decay on norms/biases
    assert cfg.train_dataloader.batch_size == 512
    assert math.isclose(cfg.optim_wrapper.optimizer.lr, 1.5e-4 * 16)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decays = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decays[names[id(p)]] = group['weight_decay']
    assert decays['encoder.blocks.0.attn.qkv.weight'] == 0.05
    assert decays['encoder.blocks.0.attn.qkv.bias'] == 0
    assert decays['encoder.blocks.0.norm1.weight'] == 0
    assert decays['encoder.global_tokens'] == 0
    assert decays['heads.rgb.decoder.mask_token'] == 0
    _schedule(cfg, 1600)


def test_mask_token_and_large_variants():
    register_all_modules()
    model = MODELS.build(
        load(MAIN.replace('.py', '_enc-mask-tokens.py')).model)
    assert model.encoder_mask_tokens
    large = load(
        'multimae_vit-l-p16_8xb256-amp-coslr-1600e_in1k-rgb-depth-semseg.py')
    enc = large.model.encoder
    assert (enc.embed_dims, enc.num_layers, enc.num_heads) == (1024, 24, 16)
    model = MODELS.build(large.model)
    assert model.heads['rgb'].decoder.context_proj.in_features == 1024


def test_demo_config_trains_one_step_on_cpu():
    """The demo model runs a forward/backward on a demo-shaped batch."""
    register_all_modules()
    cfg = load('multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py')
    model = MODELS.build(cfg.model)
    crop = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t.type == 'MultiModalRandomResizedCrop'
    ][0]
    size = crop.size
    batch = dict(
        inputs=dict(
            rgb=[
                torch.randint(0, 256, (3, size, size), dtype=torch.uint8)
                for _ in range(2)
            ],
            depth=[torch.rand(1, size, size) + 1 for _ in range(2)],
            semseg=[
                torch.randint(0, 10, (size // 4, size // 4)) for _ in range(2)
            ]),
        data_samples=None)
    data = model.data_preprocessor(batch, True)
    losses = model(data['inputs'], mode='loss')
    assert set(losses) == {
        'loss_rgb', 'loss_norm_rgb', 'loss_depth', 'loss_semseg'
    }
    sum(losses.values()).backward()
    assert cfg.optim_wrapper.type == 'OptimWrapper'  # fp32 on CPU
    assert cfg.train_dataloader.dataset.data_root == 'data/synthetic_scenes'
