# Copyright (c) mmmultimae contributors. All rights reserved.
"""Every classification config builds, trains one iteration and validates
one image through its own pipelines, on files written in ImageNet's layout
(mmpretrain's ``meta/{train,val}.txt``); the settings of supplementary
Table 2 (fine-tuning) and of MAE's linear probing hold."""
import glob
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from PIL import Image

from mmmultimae.registry import DATASETS, METRICS, MODELS
from mmmultimae.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FOLDER = osp.join(ROOT, 'configs', 'multimae', 'benchmarks', 'classification')
CONFIGS = sorted(glob.glob(osp.join(FOLDER, '*.py')))
IN1K = [p for p in CONFIGS if p.endswith('_in1k.py') or '_in1k_' in p]
FINETUNE = [p for p in IN1K if '-linear-' not in p]
PROBE = [p for p in IN1K if '-linear-' in p]
MAIN = osp.join(FOLDER, 'multimae_vit-b-p16_8xb128-amp-coslr-100e_in1k.py')


def write_imagenet(root: str) -> None:
    """Two training and one validation JPEG in mmpretrain's ImageNet
    layout, annotated in meta/{train,val}.txt."""
    rng = np.random.default_rng(0)
    files = dict(
        train=['n01440764/n01440764_1.JPEG', 'n01443537/n01443537_2.JPEG'],
        val=['ILSVRC2012_val_00000001.JPEG'])
    os.makedirs(osp.join(root, 'meta'))
    for split, names in files.items():
        lines = []
        for label, name in enumerate(names):
            path = osp.join(root, split, name)
            os.makedirs(osp.dirname(path), exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (300, 260, 3),
                                         np.uint8)).save(path)
            lines.append(f'{name} {label}')
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')


def gpus_and_batch(path: str):
    """``8xb128`` in the name -> (8, 128)."""
    schedule = osp.basename(path).split('_')[2]
    return tuple(int(v) for v in schedule.split('-')[0].split('xb'))


def one_iteration(cfg: Config, root: str) -> dict:
    """Train one fp32 step on two images and validate one (no pre-trained
    file: random init); returns the metrics."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
    cfg.model.backbone.init_cfg = None
    # fp32 on CPU: bf16 is slow there (see test_semseg_configs.py)
    cfg.optim_wrapper.type = 'OptimWrapper'
    cfg.optim_wrapper.pop('dtype', None)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    data = pseudo_collate([train_set[0], train_set[1]])
    assert data['inputs'][0].shape == (3, 224, 224)
    model.train()
    before = model.head.fc.weight.detach().clone()
    losses = model.train_step(data, wrapper)
    assert torch.isfinite(losses['loss'])
    assert not torch.equal(before, model.head.fc.weight)
    val_set = DATASETS.build(cfg.val_dataloader.dataset)
    evaluator = METRICS.build(cfg.val_evaluator)
    evaluator.dataset_meta = val_set.metainfo
    model.eval()
    with torch.no_grad():
        outputs = model.val_step(pseudo_collate([val_set[0]]))
    assert outputs[0].pred_score.shape == (1000, )
    evaluator.process(None, [o.to_dict() for o in outputs])
    return evaluator.evaluate(1)


@pytest.mark.parametrize('path', FINETUNE, ids=osp.basename)
def test_finetune_config_trains_and_validates_one_iteration(path, tmp_path):
    register_all_modules()
    cfg = Config.fromfile(path)
    # supplementary Table 2
    gpus, per_gpu = gpus_and_batch(path)
    assert gpus * per_gpu == 1024 == cfg.auto_scale_lr.base_batch_size
    assert cfg.auto_scale_lr.enable  # lr = 5e-4 x batch / 256
    assert cfg.train_dataloader.batch_size == per_gpu
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW'
    assert opt.optimizer.lr == pytest.approx(5e-4 * 1024 / 256)
    assert opt.optimizer.betas == (0.9, 0.999)
    assert opt.optimizer.weight_decay == 0.05
    assert opt.paramwise_cfg.layer_decay_rate == 0.65
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == 5 == cosine.begin
    assert warmup.start_factor * opt.optimizer.lr == pytest.approx(1e-6)
    assert cosine.eta_min_ratio * opt.optimizer.lr == pytest.approx(1e-6)
    assert cfg.train_cfg.max_epochs == 100 and cfg.train_cfg.val_interval == 1
    model = cfg.model
    assert model.backbone.drop_path_rate == 0.1
    assert model.backbone.adapters.rgb.image_size == 224
    assert model.head.pool == 'mean' and model.head.init_scale == 0.001
    assert model.head.loss.type == 'mmpretrain.LabelSmoothLoss'
    assert model.head.loss.label_smooth_val == 0.1
    assert [(a.type, a.alpha) for a in model.train_cfg.augments
            ] == [('Mixup', 0.8), ('CutMix', 1.0)]
    train = [t.type.split('.')[-1] for t in cfg.train_pipeline]
    assert train == [
        'LoadImageFromFile', 'RandomResizedCrop', 'RandomFlip', 'RandAugment',
        'PackInputs'
    ]  # no random erasing, no colour jitter
    crop, randaug = cfg.train_pipeline[1], cfg.train_pipeline[3]
    assert crop.interpolation == 'bicubic' and crop.scale == 224
    assert (randaug.policies, randaug.num_policies, randaug.magnitude_level,
            randaug.magnitude_std, randaug.total_level) == \
        ('timm_increasing', 2, 9, 0.5, 10)  # rand-m9-mstd0.5-inc1
    resize, center = cfg.test_pipeline[1:3]
    assert (resize.scale, resize.edge, resize.interpolation) == \
        (256, 'short', 'bicubic')
    assert center.crop_size == 224
    assert cfg.val_evaluator.topk == (1, 5)
    assert cfg.default_hooks.checkpoint.save_best == 'accuracy/top1'
    assert 'ClassifierClassesCheckHook' in [h.type for h in cfg.custom_hooks]

    root = str(tmp_path)
    write_imagenet(root)
    metrics = one_iteration(cfg, root)
    assert {'accuracy/top1', 'accuracy/top5'} <= set(metrics)


def test_variants_differ_only_in_the_checkpoint():
    """MAE D2 / D8 (Table 10) and the alpha ablation (Table 6) are the main
    recipe from another pre-trained encoder."""
    base = Config.fromfile(MAIN)
    checkpoints = set()
    for path in FINETUNE:
        cfg = Config.fromfile(path)
        checkpoints.add(cfg.model.backbone.init_cfg.checkpoint)
        cfg.model.backbone.init_cfg.checkpoint = \
            base.model.backbone.init_cfg.checkpoint
        assert cfg.to_dict() == base.to_dict(), path
    assert len(checkpoints) == len(FINETUNE) == 7


@pytest.mark.parametrize('path', PROBE, ids=osp.basename)
def test_linear_probe_config_trains_only_the_head(path, tmp_path):
    register_all_modules()
    cfg = Config.fromfile(path)
    gpus, per_gpu = gpus_and_batch(path)
    assert gpus * per_gpu == 16384 == cfg.auto_scale_lr.base_batch_size
    assert cfg.train_dataloader.batch_size == per_gpu
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'mmpretrain.LARS' and opt.weight_decay == 0
    assert opt.lr == pytest.approx(0.1 * 16384 / 256)
    assert cfg.train_cfg.max_epochs == 90
    assert cfg.param_scheduler[0].end == 10
    model = cfg.model
    assert model.freeze_backbone and model.backbone.drop_path_rate == 0
    assert model.head.norm_cfg == dict(type='BN1d', affine=False, eps=1e-6)
    assert model.train_cfg is None  # no Mixup / CutMix
    assert model.head.pool == ('global_token'
                               if 'global-token' in path else 'mean')
    assert [t.type.split('.')[-1] for t in cfg.train_pipeline] == [
        'LoadImageFromFile', 'RandomResizedCrop', 'RandomFlip', 'PackInputs'
    ]
    root = str(tmp_path)
    write_imagenet(root)
    metrics = one_iteration(cfg, root)
    assert 'accuracy/top1' in metrics


def test_readme_maps_every_config():
    readme = open(osp.join(FOLDER, 'README.md')).read()
    for path in CONFIGS:
        assert osp.basename(path) in readme, path
