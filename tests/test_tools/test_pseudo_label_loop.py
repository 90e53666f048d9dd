# Copyright (c) mmmultimae contributors. All rights reserved.
"""tools/analysis_tools/pseudo_label_loop.py, made tiny: fine-tune the
demo's segmentation and depth configs on labelled synthetic scenes,
pseudo-label other scenes' rgb with them, score the labels against the
renderer and pre-train the demo MultiMAE on them. (The figures of the
full-size loop are in the README.)"""
import copy
import json
import math
import os.path as osp
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

from mmmultimae.datasets import MultiModalImageFolder
from mmmultimae.datasets.synthetic.metainfo import CLASSES

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
import pseudo_label_loop  # noqa: E402


@pytest.mark.slow
def test_tiny_loop(tmp_path):
    work = tmp_path / 'loop'
    summary = pseudo_label_loop.main([
        '--work-dir',
        str(work), '--num-labelled', '16', '--num-unlabelled', '8',
        '--num-val', '12', '--image-size', '64', '--pretrain-epochs', '2',
        '--finetune-options', 'train_cfg.max_epochs=2',
        'train_dataloader.dataset.max_images=8', '--pretrain-options',
        'train_dataloader.batch_size=4'
    ])
    pseudo = summary['pseudo_root']
    with open(osp.join(pseudo, 'pseudo_labels.json')) as f:
        meta = json.load(f)
    assert meta['semseg']['num_classes'] == len(CLASSES)
    assert meta['source'] == str(work / 'unlabelled_rgb')

    # the written set is what the pre-training pipeline reads
    demo = Config.fromfile(pseudo_label_loop.PRETRAIN_CONFIG)
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        dataset = MultiModalImageFolder(
            pseudo, pipeline=copy.deepcopy(demo.train_pipeline))
        assert len(dataset) == 8
        inputs = dataset[0]['inputs']
    assert {
        k: tuple(v.shape)
        for k, v in inputs.items()
    } == dict(
        rgb=(3, 64, 64), depth=(1, 64, 64), semseg=(16, 16))
    assert dataset.metainfo['classes'] == ('gallery', 'lounge', 'playroom',
                                           'storage')

    # quality numbers: in range; the constant row checked independently
    (name_pl, pl), (name_c, const) = summary['quality'].items()
    assert name_pl == 'pseudo-labels'
    for row in (pl, const):
        assert 0 <= row['delta1'] <= 1 and row['abs_rel'] >= 0
        assert 0 <= row['mIoU'] <= 100 and 0 <= row['aAcc'] <= 100
    truth = work / 'scenes' / 'unlabelled' / 'semseg'
    labels = np.concatenate([
        np.array(Image.open(p)).ravel() for p in sorted(truth.rglob('*.png'))
    ])
    majority = CLASSES.index(summary['constants']['majority_class'])
    assert const['aAcc'] == pytest.approx(100 * (labels == majority).mean())
    assert summary['constants']['median_depth'] > 0

    # pre-training ran on the pseudo-labels: 2 epochs of 8 / 4 iterations
    pretrain = summary['pretrain']
    assert pretrain['steps'] == 4
    assert math.isfinite(pretrain['first_loss'])
    assert math.isfinite(pretrain['last_loss'])
    assert osp.isfile(pretrain['checkpoint'])
    if demo.get('val_dataloader'):  # validated on the rendered held-out set
        assert pretrain['validation']
        held_out = work / 'scenes' / 'val' / 'rgb'
        assert len(list(held_out.rglob('*.jpg'))) == 12
    assert 'images/s' in summary['labelling']
