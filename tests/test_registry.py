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


def test_lazy_locations_in_order_until_found_and_import_errors(
        tmp_path, monkeypatch):
    """A miss imports the lazy locations one by one until the key
    resolves; one that cannot be imported (a package not installed) is
    skipped, and named if the key is found nowhere."""
    import sys

    from mmmultimae.registry import LazyParentRegistry
    (tmp_path / 'lazy_holder.py').write_text(
        'from mmmultimae.registry import LazyParentRegistry\n'
        "REG = LazyParentRegistry('thing', scope='lazy_test', "
        "lazy_locations=['no_such_package_x', 'lazy_impl', 'lazy_never'])\n")
    (tmp_path / 'lazy_impl.py').write_text(
        'from lazy_holder import REG\n\n\n'
        '@REG.register_module()\nclass Thing:\n    pass\n')
    (tmp_path / 'lazy_never.py').write_text(
        "raise AssertionError('imported although the key was found')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from lazy_holder import REG
    assert isinstance(REG, LazyParentRegistry)
    assert REG.get('Thing').__name__ == 'Thing'
    assert 'lazy_never' not in sys.modules
    REG.lazy_locations.remove('lazy_never')
    with pytest.raises(ImportError, match=r"'Nope'.*no_such_package_x"):
        REG.get('Nope')
