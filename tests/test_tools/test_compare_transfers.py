# Copyright (c) mmmultimae contributors. All rights reserved.
"""The demo's transfer configs learn: fine-tuned from scratch for a few
dozen iterations on synthetic scenes they beat the best constant
prediction, as ``tools/analysis_tools/compare_transfers.py`` scores it.

(Pre-trained vs scratch needs a pre-training run: ``tools/run_demo.sh``
prints that comparison; see the README for the measured figures.)
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

BENCH = osp.join(ROOT, 'configs', 'multimae', 'benchmarks')
SEG = osp.join(
    BENCH, 'semseg',
    'multimae_vit-tiny-6l-p8_convnext_1xb8-3e_synthetic-64x64-rgb.py')
DEPTH = osp.join(BENCH, 'depth',
                 'multimae_vit-tiny-6l-p8_dpt_1xb8-3e_synthetic-64x64-rgb.py')


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp('scenes')
    write_synthetic_dataset(
        str(root / 'train'), 96, 64, seed=0, progress=False)
    write_synthetic_dataset(str(root / 'val'), 12, 64, seed=1, progress=False)
    return str(root)


def train_scratch(config: str, data_root: str, work_dir: str,
                  epochs: int) -> None:
    """Fine-tune from random init for ``epochs`` epochs of 12
    iterations."""
    register_all_modules()
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.train_cfg.max_epochs = epochs
    cfg.default_hooks.checkpoint.interval = epochs
    for key in ('train_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
    cfg.train_dataloader.dataset.max_images = 96
    Runner.from_cfg(copy.deepcopy(cfg)).train()


@pytest.mark.parametrize(
    'config,epochs,metric,baseline,margin', [
        (SEG, 2, 'mIoU/resize_pad', "majority class ('wall')", 2.0),
        (DEPTH, 6, 'delta1/resize_pad', None, 0.05),
    ],
    ids=['semseg', 'depth'])
def test_scratch_beats_the_constant_baseline(config, epochs, metric, baseline,
                                             margin, scenes, tmp_path):
    train_scratch(config, scenes, str(tmp_path / 'run'), epochs)
    results = compare_transfers.main([
        '--out',
        str(tmp_path / 'cmp'), '--num-figures', '2',
        f'scratch={tmp_path / "run"}'
    ])
    assert osp.isfile(tmp_path / 'cmp' / 'predictions.png')
    (constant, ), = [[k for k in results if k != 'scratch']]
    if baseline is not None:
        assert constant == baseline
    assert {'resize_pad', 'slide'} <= set(compare_transfers.modes_of(results))
    assert results['scratch'][metric] > results[constant][metric] + margin


def test_runs_are_name_equals_work_dir():
    with pytest.raises(SystemExit):
        compare_transfers.parse_args(['--out', 'x', 'work_dirs/a'])
    with pytest.raises(SystemExit):
        compare_transfers.parse_args(['--out', 'x', 'a=d1', 'a=d2'])
