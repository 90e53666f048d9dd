# Copyright (c) mmmultimae contributors. All rights reserved.
"""Every depth config builds, trains one iteration and tests one image
through its own pipelines, on files written in the dataset's real layout;
the paper's Table 5 settings hold and the test loop visits every image."""
import glob
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmmultimae.datasets import write_synthetic_dataset
from mmmultimae.datasets.multimodal_seg_dataset import write_seg_sample
from mmmultimae.registry import DATASETS, METRICS, MODELS
from mmmultimae.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FOLDER = osp.join(ROOT, 'configs', 'multimae', 'benchmarks', 'depth')
CONFIGS = sorted(glob.glob(osp.join(FOLDER, '*.py')))
NYU_CONFIGS = [p for p in CONFIGS if '_nyuv2-' in p]


def write_nyu(root: str, num_test: int = 3) -> None:
    """NYUv2 layout (640 x 480 as the real files, one sample with no
    mask_valid file: optional)."""
    rng = np.random.default_rng(0)
    for split, count in (('train', 1), ('test', num_test)):
        for i in range(count):
            write_seg_sample(
                osp.join(root, split), f'{i:04d}',
                rng.integers(0, 256, (480, 640, 3), np.uint8),
                rng.uniform(0.5, 8., (480, 640)),
                rng.integers(0, 41, (480, 640)))
    os.remove(osp.join(root, 'test', 'mask_valid', '0001.png'))


@pytest.mark.parametrize('path', NYU_CONFIGS, ids=osp.basename)
def test_nyu_config_trains_and_tests_one_iteration(path, tmp_path):
    register_all_modules()
    cfg = Config.fromfile(path)
    # supplementary Table 5 (NYUv2 depth)
    gpus, per_gpu = (
        int(v)
        for v in osp.basename(path).split('_')[3].split('-')[0].split('xb'))
    assert gpus * per_gpu == 128
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.train_cfg.max_epochs == 2000
    assert cfg.param_scheduler[0].end == 100  # warmup epochs
    assert cfg.optim_wrapper.type == 'OptimWrapper'  # fp32 as official
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.75
    assert cfg.model.backbone.drop_path_rate == 0.
    assert cfg.model.backbone.out_indices == [2, 5, 8, 11]
    assert cfg.model.decode_head.loss_decode.type == 'BerHuLoss'

    root = str(tmp_path)
    write_nyu(root)
    for key in ('train_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    data = pseudo_collate([train_set[0]])
    assert data['inputs']['rgb'][0].shape == (3, 256, 256)
    model.train()
    losses = model.train_step(data, optim_wrapper)
    assert torch.isfinite(losses['loss'])

    test_set = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(test_set) == 3  # every test image: no 100-image cap
    assert 'gt_valid_mask' not in test_set[1]['data_samples']
    evaluator = METRICS.build(cfg.test_evaluator)
    evaluator.dataset_meta = test_set.metainfo
    model.eval()
    batch = pseudo_collate([test_set[0], test_set[1]])
    with torch.no_grad():
        outputs = model.test_step(batch)
    assert outputs[0].pred_depth_map.shape == (256, 256)
    assert outputs[0].pred_depth_map.data.min() >= cfg.model.min_depth
    assert outputs[0].pred_depth_map.data.max() <= cfg.model.max_depth
    evaluator.process(batch, [o.to_dict() for o in outputs])
    metrics = evaluator.evaluate(2)
    assert {'abs_rel/whole', 'rmse/whole', 'log10/whole'} <= set(metrics)
    # validation offers both checkpoint selections: delta1 (the config's)
    # and the official lowest berHu loss
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        val_evaluator = Evaluator(cfg.val_evaluator)
    val_evaluator.process(outputs, batch)
    val_metrics = val_evaluator.evaluate(2)
    assert cfg.default_hooks.checkpoint.save_best == 'delta1/whole'
    assert val_metrics['delta1/whole'] == metrics['delta1/whole']
    assert val_metrics['loss_berhu/whole'] > 0


def test_synthetic_normal_config_trains_and_tests_one_iteration(tmp_path):
    """Surface normals from rgb: the renderer's normal PNGs decoded to unit
    vectors, a 3-channel head, masked L1 and the normal metrics."""
    register_all_modules()
    cfg = Config.fromfile(
        osp.join(FOLDER, 'multimae_vit-tiny-6l-p8_dpt_1xb8-3e_synthetic-'
                 'normal-64x64-rgb.py'))
    assert cfg.model.decode_head.num_classes == 3
    assert cfg.model.decode_head.loss_decode.type == 'PixelL1Loss'
    assert cfg.model.min_depth is None and cfg.model.max_depth is None
    root = str(tmp_path)
    write_synthetic_dataset(
        osp.join(root, 'train'), 2, 96, seed=0, progress=False)
    write_synthetic_dataset(osp.join(root, 'val'), 2, 96, seed=1,
                            progress=False)
    for key in ('train_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    data = pseudo_collate([train_set[0], train_set[1]])
    normals = data['data_samples'][0].gt_depth_map.data
    assert normals.shape == (3, 64, 64)
    torch.testing.assert_close(
        normals.norm(dim=0), torch.ones(64, 64), atol=1e-5, rtol=0)
    model.train()
    losses = model.train_step(data,
                              build_optim_wrapper(model, cfg.optim_wrapper))
    assert torch.isfinite(losses['decode.loss_l1'])

    test_set = DATASETS.build(cfg.test_dataloader.dataset)
    evaluator = METRICS.build(cfg.test_evaluator)
    model.eval()
    batch = pseudo_collate([test_set[0], test_set[1]])
    with torch.no_grad():
        outputs = model.test_step(batch)
    assert outputs[0].pred_depth_map.data.shape == (3, 96, 96)
    evaluator.process(batch, [o.to_dict() for o in outputs])
    metrics = evaluator.evaluate(2)
    assert {'l1/resize_pad', 'mean_angle/slide', 'within_30/slide'} <= set(
        metrics)
    assert 0 < metrics['mean_angle/resize_pad'] < 180


def test_readme_maps_every_config():
    readme = open(osp.join(FOLDER, 'README.md')).read()
    for path in CONFIGS:
        assert osp.basename(path) in readme, path
