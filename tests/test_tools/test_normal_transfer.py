# Copyright (c) mmmultimae contributors. All rights reserved.
"""Surface normals from rgb learn, and pre-training helps: the demo
MultiMAE pre-trained briefly on synthetic scenes (rgb + depth + semseg,
built here, small: 32 px crops) and fine-tuned with the synthetic normals
config beats the same fine-tuning from scratch and the mean normal, as
``tools/analysis_tools/compare_transfers.py`` scores them.

Measured (mean angle, resize_pad, 24 held-out scenes; ~140 s of CPU each):

==== =========== ======= =========== =============
seed pre-trained scratch mean normal L1 pre / scr
==== =========== ======= =========== =============
0    39.2        44.2    59.5        0.310 / 0.339
1    40.3        47.6    59.5        0.322 / 0.353
2    39.7        41.4    59.5        0.315 / 0.322
==== =========== ======= =========== =============

The test runs seed 0 and asks for margins below the smallest measured ones
(1.7 and 19.2 degrees).
"""
import copy
import os.path as osp
import sys

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmmultimae.datasets import write_synthetic_dataset
from mmmultimae.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
import compare_transfers  # noqa: E402

PRETRAIN = osp.join(ROOT, 'configs', 'multimae',
                    'multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py')
NORMAL = osp.join(
    ROOT, 'configs', 'multimae', 'benchmarks', 'depth',
    'multimae_vit-tiny-6l-p8_dpt_1xb8-3e_synthetic-normal-64x64-rgb.py')
#: crops of the test (the configs' are 64 px of 96 px renders)
CROP, RENDER = 32, 48


def pretrain(data_root: str, work_dir: str, iters: int, seed: int) -> str:
    """The demo pre-training at 32 px (8 of 48 tokens visible, as the
    demo's 1/6) for ``iters`` iterations of 32 scenes; its checkpoint."""
    cfg = Config.fromfile(PRETRAIN)
    for name in ('rgb', 'depth', 'semseg'):
        cfg.model.encoder.adapters[name].image_size = CROP
    for head in cfg.model.heads.values():
        head.decoder.image_size = CROP
    cfg.model.mask_sampler.num_visible = 8
    cfg.train_dataloader.dataset.pipeline[1].size = CROP
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters)
    # no held-out evaluation during this pre-training
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    warmup = iters // 10
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=1e-3, by_epoch=False, end=warmup),
        dict(
            type='CosineAnnealingLR',
            T_max=iters - warmup,
            eta_min=1e-5,
            by_epoch=False,
            begin=warmup,
            end=iters)
    ]
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=iters, by_epoch=False)
    cfg.custom_hooks = [
        h for h in cfg.custom_hooks
        if h.type in ('StepSeedHook', 'CheckFiniteLossHook')
    ]
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=seed)
    Runner.from_cfg(cfg).train()
    return osp.join(work_dir, f'iter_{iters}.pth')


def finetune(data_root: str, work_dir: str, checkpoint, seed: int,
             epochs: int = 4, num_scenes: int = 96) -> None:
    """The normals config at 32 px: ``epochs`` of ``num_scenes / 8``
    iterations, from ``checkpoint`` (None: scratch)."""
    cfg = Config.fromfile(NORMAL)
    cfg.model.backbone.init_cfg = None if checkpoint is None else dict(
        type='Pretrained', checkpoint=checkpoint)
    cfg.model.backbone.adapters.rgb.image_size = CROP
    cfg.model.test_cfg.update(
        size=CROP, crop_size=(CROP, CROP), stride=(CROP // 2, CROP // 2))
    crop = cfg.train_dataloader.dataset.pipeline[4]
    assert crop.type == 'MultiModalRandomCrop'
    crop.size = CROP
    for key in ('train_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
    cfg.train_dataloader.dataset.max_images = num_scenes
    cfg.train_cfg.max_epochs = epochs
    cfg.default_hooks.checkpoint.interval = epochs
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=seed)
    Runner.from_cfg(copy.deepcopy(cfg)).train()


def pretrained_vs_scratch(root: str, seed: int = 0,
                          pretrain_iters: int = 300) -> dict:
    """compare_transfers' results of both fine-tunes and the mean normal."""
    register_all_modules()
    data_root = osp.join(root, 'scenes')
    write_synthetic_dataset(
        osp.join(data_root, 'train'), 400, RENDER, seed=0, progress=False)
    write_synthetic_dataset(
        osp.join(data_root, 'val'), 24, RENDER, seed=1, progress=False)
    checkpoint = pretrain(data_root, osp.join(root, 'pretrain'),
                          pretrain_iters, seed)
    for name, init in (('pretrained', checkpoint), ('scratch', None)):
        finetune(data_root, osp.join(root, name), init, seed)
    return compare_transfers.main([
        '--out',
        osp.join(root, 'cmp'), '--num-figures', '2',
        f'pretrained={osp.join(root, "pretrained")}',
        f'scratch={osp.join(root, "scratch")}'
    ])


@pytest.mark.slow
def test_pretrained_beats_scratch_and_the_mean_normal(tmp_path):
    results = pretrained_vs_scratch(str(tmp_path))
    (constant, ) = [k for k in results if k.startswith('mean normal')]
    pretrained, scratch = results['pretrained'], results['scratch']
    assert osp.isfile(tmp_path / 'cmp' / 'predictions.png')
    key = 'mean_angle/resize_pad'
    # measured margins (seeds 0, 1, 2) in the module docstring
    assert pretrained[key] < scratch[key] - 1.0
    assert pretrained[key] < results[constant][key] - 15.0
    assert pretrained['l1/resize_pad'] < scratch['l1/resize_pad']
