# Copyright (c) mmmultimae contributors. All rights reserved.
"""An image folder whose classes do not match the classifier (its head or
the checkpoint it loads) stops the run with an error naming both."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

from mmmultimae.engine.hooks import class_mismatches
from mmmultimae.utils import register_all_modules


def write_folder(root: str, classes, per_class: int = 2) -> None:
    rng = np.random.default_rng(0)
    for name in classes:
        os.makedirs(osp.join(root, name), exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3),
                                         np.uint8)).save(
                                             osp.join(root, name, f'{i}.png'))


def runner_cfg(work_dir: str, train_root: str, test_root: str,
               num_classes: int = 3) -> Config:
    pipeline = [
        dict(type='mmpretrain.LoadImageFromFile'),
        dict(type='mmpretrain.PackInputs')
    ]

    def loader(root):
        return dict(
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(
                type='mmpretrain.CustomDataset',
                data_root=root,
                pipeline=pipeline))

    return Config(
        dict(
            default_scope='mmmultimae',
            work_dir=work_dir,
            log_level='WARNING',
            model=dict(
                type='MultiViTClassifier',
                data_preprocessor=dict(num_classes=num_classes),
                backbone=dict(
                    type='MultiViT',
                    adapters=dict(
                        rgb=dict(
                            type='PatchInputAdapter',
                            in_channels=3,
                            patch_size=16,
                            image_size=32)),
                    embed_dims=16,
                    num_layers=1,
                    num_heads=2),
                head=dict(
                    type='MultiViTClsHead',
                    num_classes=num_classes,
                    in_channels=16)),
            train_dataloader=loader(train_root),
            test_dataloader=loader(test_root),
            test_evaluator=dict(type='mmpretrain.Accuracy', topk=(1, )),
            train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=1),
            test_cfg=dict(type='TestLoop'),
            optim_wrapper=dict(
                optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.)),
            custom_hooks=[dict(type='ClassifierClassesCheckHook')]))


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp('folders')
    write_folder(str(root / 'abc'), ['a', 'b', 'c'])
    write_folder(str(root / 'abcd'), ['a', 'b', 'c', 'd'])
    write_folder(str(root / 'abx'), ['a', 'b', 'x'])
    write_folder(str(root / 'ab'), ['a', 'b'])
    return root


@pytest.fixture(scope='module')
def trained(folders, tmp_path_factory):
    """A 3-class classifier fine-tuned on a, b, c (its checkpoint records
    the classes)."""
    register_all_modules()
    work_dir = str(tmp_path_factory.mktemp('run'))
    runner = Runner.from_cfg(
        runner_cfg(work_dir, str(folders / 'abc'), str(folders / 'abc')))
    runner.train()
    return osp.join(work_dir, 'epoch_1.pth')


def test_matching_classes_test_fine(folders, trained, tmp_path):
    cfg = runner_cfg(
        str(tmp_path), str(folders / 'abc'), str(folders / 'abc'))
    cfg.load_from = trained
    metrics = Runner.from_cfg(cfg).test()
    assert 'accuracy/top1' in metrics


def test_folder_with_a_class_more_than_the_checkpoint(folders, trained,
                                                      tmp_path):
    # the config follows the folder (4 classes): the checkpoint's head has 3
    cfg = runner_cfg(
        str(tmp_path), str(folders / 'abc'), str(folders / 'abcd'), 4)
    cfg.load_from = trained
    with pytest.raises(ValueError) as info:
        Runner.from_cfg(cfg).test()
    message = str(info.value)
    assert trained in message and 'head of 3 classes' in message
    assert "'a', 'b', 'c'" in message and 'one of 4' in message
    assert str(folders / 'abcd') in message
    assert "4 classes ('a', 'b', 'c', 'd')" in message


def test_folder_with_other_classes_than_the_checkpoint(folders, trained,
                                                       tmp_path):
    cfg = runner_cfg(
        str(tmp_path), str(folders / 'abc'), str(folders / 'abx'))
    cfg.load_from = trained
    with pytest.raises(ValueError) as info:
        Runner.from_cfg(cfg).test()
    message = str(info.value)
    assert trained in message and str(folders / 'abx') in message
    assert "2: 'c' vs 'x'" in message


def test_folder_with_a_class_less_than_the_head(folders, tmp_path):
    cfg = runner_cfg(str(tmp_path), str(folders / 'ab'), str(folders / 'ab'))
    register_all_modules()
    with pytest.raises(ValueError) as info:
        Runner.from_cfg(cfg).train()
    message = str(info.value)
    assert str(folders / 'ab') in message
    assert "has 2 classes ('a', 'b') but the classifier head has 3" \
        in message


def test_class_mismatches_messages():
    assert class_mismatches(['a', 'b'], 'data', 2, ['a', 'b']) == []
    assert class_mismatches(None, 'data', 5) == []
    (error, ) = class_mismatches(['a', 'b'], 'data', 2, ['b', 'a'])
    assert "0: 'b' vs 'a'" in error and 'check_names=False' in error
    assert class_mismatches(['a', 'b'], 'data', 2, ['b', 'a'],
                            check_names=False) == []
    errors = class_mismatches([str(i) for i in range(20)], 'data', 3,
                              ['x'] * 4, 'ckpt.pth')
    assert len(errors) == 2
    assert "'7', ... (20 in all)" in errors[0]
    assert errors[1].startswith('ckpt.pth was trained on 4 classes')


def test_preprocessor_classes_must_match_the_head(folders, tmp_path):
    cfg = runner_cfg(
        str(tmp_path), str(folders / 'abc'), str(folders / 'abc'))
    cfg.model.data_preprocessor.num_classes = 4
    with pytest.raises(ValueError, match=r'data_preprocessor.num_classes=4'):
        Runner.from_cfg(cfg).train()
