# Copyright (c) mmmultimae contributors. All rights reserved.
"""Every semantic segmentation config builds, trains one iteration and
validates one image through its own pipelines, on files written in the
dataset's real layout; the paper's Table 4 settings hold."""
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

from mmmultimae.datasets.multimodal_seg_dataset import write_seg_sample
from mmmultimae.registry import DATASETS, METRICS, MODELS
from mmmultimae.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FOLDER = osp.join(ROOT, 'configs', 'multimae', 'benchmarks', 'semseg')
CONFIGS = sorted(glob.glob(osp.join(FOLDER, '*.py')))
PAPER_CONFIGS = [p for p in CONFIGS if 'synthetic' not in p]
# (dataset, batch, epochs, crop, classes): supplementary Table 4
TABLE4 = dict(
    ade20k=(16, 64, 512, 150),
    hypersim=(16, 25, 512, 40),
    nyuv2=(8, 200, 640, 40))


def dataset_of(path: str) -> str:
    return next(name for name in TABLE4 if f'_{name}-' in path)


def write_fake_dataset(cfg: Config, root: str) -> None:
    """Two small samples per split in the layout the config reads."""
    rng = np.random.default_rng(0)
    dataset = cfg.train_dataloader.dataset
    if dataset.type == 'ADE20KDataset':
        for split in ('training', 'validation'):
            for i in range(2):
                img = osp.join(root, 'images', split, f'ADE_{i}.jpg')
                ann = osp.join(root, 'annotations', split, f'ADE_{i}.png')
                for path in (img, ann):
                    os.makedirs(osp.dirname(path), exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (40, 56, 3),
                                             np.uint8)).save(img)
                Image.fromarray(rng.integers(0, 151, (40, 56),
                                             np.uint8)).save(ann)
        return
    for split in ('train', 'val', 'test'):
        for i in range(2):
            write_seg_sample(
                osp.join(root, split), f'{i:04d}',
                rng.integers(0, 256, (40, 56, 3), np.uint8),
                rng.uniform(0.5, 8., (40, 56)), rng.integers(0, 41, (40, 56)))


def set_data_root(cfg: Config, root: str) -> None:
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root


@pytest.mark.parametrize('path', PAPER_CONFIGS, ids=osp.basename)
def test_config_trains_and_validates_one_iteration(path, tmp_path):
    register_all_modules()
    cfg = Config.fromfile(path)
    # the settings of supplementary Table 4
    batch, epochs, crop, classes = TABLE4[dataset_of(path)]
    schedule = osp.basename(path).split('_')[3]  # e.g. 4xb4-amp-64e
    gpus, per_gpu = (int(v) for v in schedule.split('-')[0].split('xb'))
    assert gpus * per_gpu == batch
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.model.test_cfg['size'] == crop
    assert cfg.model.decode_head.num_classes == classes
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.optim_wrapper.optimizer.betas == (0.9, 0.999)
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.75
    assert cfg.model.backbone.drop_path_rate == 0.1
    for adapter in cfg.model.backbone.adapters.values():
        assert adapter['image_size'] == crop
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    assert cfg.optim_wrapper.dtype == 'bfloat16'

    root = str(tmp_path)
    write_fake_dataset(cfg, root)
    set_data_root(cfg, root)
    cfg.model.backbone.init_cfg = None  # no pre-trained file here
    # fp32 on CPU: a bf16 step of these ViT-B configs took over 5 minutes
    # on a 2-core CI machine (py-spy: bf16 GELU-linear backward)
    cfg.optim_wrapper.type = 'OptimWrapper'
    cfg.optim_wrapper.pop('dtype')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = optim_wrapper.optimizer.param_groups
    assert len(groups) <= 2 * (cfg.model.backbone.num_layers + 2)
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    # two samples: UPerNet's pooling branch has BatchNorm on 1 x 1 maps
    batch_data = pseudo_collate([train_set[0], train_set[1]])
    assert tuple(batch_data['inputs']['rgb' if 'rgb' in
                                      batch_data['inputs'] else 'depth']
                 [0].shape[-2:]) == (crop, crop)
    model.train()
    losses = model.train_step(batch_data, optim_wrapper)
    assert torch.isfinite(losses['loss'])

    val_set = DATASETS.build(cfg.val_dataloader.dataset)
    evaluator = METRICS.build(cfg.val_evaluator)
    evaluator.dataset_meta = val_set.metainfo
    model.eval()
    with torch.no_grad():
        outputs = model.val_step(pseudo_collate([val_set[0]]))
    assert outputs[0].pred_sem_seg.shape == (40, 56)
    evaluator.process(
        pseudo_collate([val_set[0]]), [o.to_dict() for o in outputs])
    metrics = evaluator.evaluate(1)
    assert {'mIoU/resize_pad', 'mIoU/slide'} <= set(metrics)
    assert cfg.default_hooks.checkpoint.save_best in metrics


def test_heads_differ_only_in_decode_head():
    """Moving between ConvNeXt, Segmenter, UPerNet and DPT changes the
    decode head (and UPerNet's auxiliary head), nothing else."""
    stem = 'multimae_vit-b-p16_{}_4xb4-amp-64e_ade20k-512x512-rgb.py'
    base = Config.fromfile(osp.join(FOLDER, stem.format('convnext')))
    for head in ('segmenter-mask', 'upernet', 'dpt'):
        other = Config.fromfile(osp.join(FOLDER, stem.format(head)))
        for key in set(base) | set(other):
            if key == 'model':
                continue
            assert base.get(key) == other.get(key), (head, key)
        changed = {
            k
            for k in set(base.model) | set(other.model)
            if base.model.get(k) != other.model.get(k)
        }
        assert changed <= {'decode_head', 'auxiliary_head'}, (head, changed)


def test_readme_maps_every_config():
    readme = open(osp.join(FOLDER, 'README.md')).read()
    for path in CONFIGS:
        assert osp.basename(path) in readme, path
