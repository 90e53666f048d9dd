# Copyright (c) mmmultimae contributors. All rights reserved.
"""Registry resolution under the mmmultimae scope."""
import pytest
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope

from mmmultimae.registry import (DATASETS, EVALUATOR, HOOKS, METRICS, MODELS,
                                 OPTIM_WRAPPERS, TASK_UTILS, TRANSFORMS,
                                 VISUALIZERS)
from mmmultimae.utils import register_all_modules


@pytest.fixture(autouse=True)
def scope():
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        yield


def test_registries_are_children_of_mmseg():
    for registry in (MODELS, DATASETS, TRANSFORMS, METRICS, EVALUATOR, HOOKS,
                     OPTIM_WRAPPERS, VISUALIZERS, TASK_UTILS):
        assert registry.scope == 'mmmultimae'
        assert registry.parent.scope == 'mmseg'


def test_our_modules_build_by_name():
    sampler = TASK_UTILS.build(
        dict(type='DirichletMaskSampler', num_visible=8))
    assert type(sampler).__name__ == 'DirichletMaskSampler'
    adapter = MODELS.build(
        dict(type='PatchInputAdapter', in_channels=1, embed_dims=32,
             patch_size=16, image_size=32))
    assert type(adapter).__module__.startswith('mmmultimae.')
    # through the root registry, as mmengine's Runner builds: scope switch
    loss = ROOT_MODELS.build(dict(type='MaskedL1Loss'))
    assert type(loss).__module__.startswith('mmmultimae.')


def test_mmseg_modules_build_by_name_under_our_scope():
    head = MODELS.build(
        dict(
            type='UPerHead',
            in_channels=[8, 8, 8, 8],
            in_index=[0, 1, 2, 3],
            channels=8,
            num_classes=3,
            pool_scales=(1, 2),
            norm_cfg=dict(type='BN', requires_grad=True)))
    assert type(head).__module__.startswith('mmseg.')
    metric = METRICS.build(dict(type='IoUMetric'))
    assert type(metric).__module__.startswith('mmseg.')
    pack = TRANSFORMS.build(dict(type='PackSegInputs'))
    assert type(pack).__module__.startswith('mmseg.')
    # mmengine's own modules resolve as well
    hook = HOOKS.build(dict(type='IterTimerHook'))
    assert type(hook).__module__.startswith('mmengine.')


def test_unknown_type_still_raises():
    with pytest.raises(KeyError, match='NoSuchHead'):
        MODELS.build(dict(type='NoSuchHead'))
