# Copyright (c) mmmultimae contributors. All rights reserved.
"""Every Taskonomy config holds the paper's Table 5 settings, builds,
trains one iteration and validates through its own pipelines on a tiny
tree in the real layout and bit depths; the validation metric is the
checkpoint-selection key and equals the masked L1 of the predictions."""
import glob
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from taskonomy_data import write_view

from mmmultimae.datasets.taskonomy import write_taskonomy_split
from mmmultimae.models.losses.regression_losses import masked_l1_loss
from mmmultimae.registry import DATASETS, MODELS
from mmmultimae.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FOLDER = osp.join(ROOT, 'configs', 'multimae', 'benchmarks', 'taskonomy')
CONFIGS = sorted(glob.glob(osp.join(FOLDER, '*.py')))
#: config name -> (Taskonomy task, output channels): supplementary B.4
TASKS = dict(
    curvature=('principal_curvature', 2),
    depth=('depth_zbuffer', 1),
    edges=('edge_texture', 1),
    occlusion=('edge_occlusion', 1),
    keypoints2d=('keypoints2d', 1),
    keypoints3d=('keypoints3d', 1),
    normal=('normal', 3),
    reshading=('reshading', 1))
SPLITS = dict(
    train=[('darden', 1, 0), ('darden', 2, 1)],
    val=[('corozal', 3, 2), ('corozal', 4, 0)],
    test=[('corozal', 5, 1)])
SMALL = 64  # the test's input size (the configs' is 384)


def task_of(path: str):
    short = re.search(r'_taskonomy-(\w+)-384x384-rgb\.py$', path)[1]
    return TASKS[short]


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    """Every task's files for 5 views (128 x 128) and the split csvs."""
    root = tmp_path_factory.mktemp('taskonomy')
    for split, views in SPLITS.items():
        for view in views:
            write_view(str(root), *view, size=128)
        write_taskonomy_split(str(root / 'splits' / f'tiny_{split}.csv'),
                              views)
    return str(root)


def test_every_task_has_one_config():
    assert sorted(task_of(p)[0] for p in CONFIGS) == sorted(
        t for t, _ in TASKS.values())


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_trains_and_validates_one_iteration(path, tree):
    register_all_modules()
    cfg = Config.fromfile(path)
    task, channels = task_of(path)
    # supplementary Table 5 (Taskonomy) and B.4
    assert osp.basename(path).split('_')[3] == '1xb32-amp-100e'
    assert cfg.train_dataloader.batch_size == 32
    assert cfg.train_cfg.max_epochs == 100
    assert cfg.param_scheduler[0].end == 5  # warmup epochs
    assert cfg.param_scheduler[0].start_factor * 3e-4 == pytest.approx(1e-6)
    assert cfg.optim_wrapper.type == 'MixedPrecisionOptimWrapper'  # amp
    assert cfg.optim_wrapper.optimizer.lr == 3e-4
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.optimizer.betas == (0.9, 0.999)
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.75
    assert cfg.model.backbone.drop_path_rate == 0.1
    assert cfg.model.backbone.out_indices == [2, 5, 8, 11]
    assert cfg.model.backbone.adapters.rgb.image_size == 384
    assert cfg.model.decode_head.type == 'DPTRegressionHead'
    assert cfg.model.decode_head.num_classes == channels
    assert cfg.model.decode_head.loss_decode.type == 'PixelL1Loss'
    assert cfg.model.min_depth is None and cfg.model.max_depth is None
    for key, rows in (('train', 800), ('val', 200), ('test', None)):
        dataset = cfg[f'{key}_dataloader'].dataset
        assert dataset.ann_file == f'splits/tiny_{key}.csv'
        assert dataset.get('max_samples') == rows
        # 384 x 384, no augmentation: the same two steps everywhere
        load, pack = dataset.pipeline
        assert load.type == 'LoadTaskonomyTasks' and load.image_size == 384
        assert load.tasks == ('rgb', task, 'mask_valid')
        assert pack.depth_target == task and pack.inputs == ('rgb', )
    hook = cfg.default_hooks.checkpoint
    assert (hook.save_best, hook.rule) == ('loss_l1', 'less')
    assert cfg.train_cfg.val_interval == 5

    # a few views of the real layout at a small size
    for key in ('train', 'val'):
        dataset = cfg[f'{key}_dataloader'].dataset
        dataset.data_root = tree
        dataset.pipeline[0].image_size = SMALL
    cfg.model.backbone.adapters.rgb.image_size = SMALL
    cfg.model.backbone.init_cfg = None
    # fp32 on CPU: bf16 autocast is ~8x slower there
    cfg.optim_wrapper.type = 'OptimWrapper'
    cfg.optim_wrapper.pop('dtype')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(train_set) == 2
    data = pseudo_collate([train_set[0], train_set[1]])
    sample = data['data_samples'][0]
    assert data['inputs']['rgb'][0].shape == (3, SMALL, SMALL)
    assert sample.gt_depth_map.shape == (SMALL, SMALL)
    assert sample.gt_depth_map.data.shape[0] == channels
    assert sample.gt_valid_mask.data.dtype == torch.bool
    model.train()
    losses = model.train_step(data, optim_wrapper)
    assert torch.isfinite(losses['loss']) and 'decode.loss_l1' in losses

    val_set = DATASETS.build(cfg.val_dataloader.dataset)
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        evaluator = Evaluator(cfg.val_evaluator)
    model.eval()
    batch = pseudo_collate([val_set[0], val_set[1]])
    with torch.no_grad():
        outputs = model.test_step(batch)
    evaluator.process(outputs, batch)
    metrics = evaluator.evaluate(2)
    expected = np.mean([
        float(
            masked_l1_loss(o.pred_depth_map.data[None],
                           o.gt_depth_map.data[None],
                           o.gt_valid_mask.data[None])) for o in outputs
    ])
    assert metrics[hook.save_best] == pytest.approx(expected, rel=1e-5)


def test_readme_maps_every_config_and_pretraining():
    readme = open(osp.join(FOLDER, 'README.md')).read()
    for path in CONFIGS:
        assert osp.basename(path) in readme, path
    # the Table 7 / 8 pre-training variants name existing configs
    pattern = r'`((?:multimae|mae)_vit-b-p16[\w.+-]*_in1k[\w.+-]*\.py)`'
    named = set(re.findall(pattern, readme))
    assert len(named) >= 4, named
    for name in named:
        assert osp.isfile(osp.join(ROOT, 'configs', 'multimae', name)), name
