# Copyright (c) mmmultimae contributors. All rights reserved.
import numpy as np
import pytest
from mmengine.registry import DefaultScope
from official_fixtures import load_transfer_fixture

from mmmultimae.datasets.transforms.label_transforms import (AdaptSegLabels,
                                                             adapt_seg_labels)
from mmmultimae.registry import TRANSFORMS

OFFICIAL_PAD = 254


def _parse_combination(key):
    """'reduce_zero_label=True,use_void_label=False' -> kwargs."""
    kwargs = {}
    for item in key.split(','):
        name, value = item.split('=')
        assert value in ('True', 'False'), key
        kwargs[name.strip()] = value == 'True'
    return kwargs


def _official_prose(labels, num_classes, reduce_zero_label, use_void_label):
    """The two steps of the fixture README, literally (in place on a copy):
    pad 254 -> 255 (or K, K + 1 with reduce_zero_label, when void); then
    with reduce_zero_label: 0 -> 255, x -> x - 1, 254 -> 255."""
    img = labels.astype(np.int64).copy()
    void = num_classes + 1 if reduce_zero_label else num_classes
    img[img == OFFICIAL_PAD] = void if use_void_label else 255
    if reduce_zero_label:
        img[img == 0] = 255
        img = img - 1
        img[img == 254] = 255
    return img


@pytest.fixture(scope='module')
def section():
    return load_transfer_fixture()['semseg_metrics']


def test_official_combinations(section):
    labels = section['inputs']['label_transform_input'].numpy()
    num_classes = section['inputs']['num_classes']
    records = section['outputs']['label_transforms']
    assert len(records) == 4
    for key, record in records.items():
        kwargs = _parse_combination(key)
        expected = record['output'].numpy()
        for dtype in (np.int64, np.uint8):
            source = labels.astype(dtype)
            before = source.copy()
            out = adapt_seg_labels(
                source, num_classes, pad_value=OFFICIAL_PAD, **kwargs)
            np.testing.assert_array_equal(out, expected, err_msg=key)
            assert out.dtype == dtype
            # official mutates its input (input_after_call); ours does not
            np.testing.assert_array_equal(source, before)
        assert not np.array_equal(record['input_after_call'].numpy(), labels)


@pytest.mark.parametrize('reduce_zero_label', [False, True])
@pytest.mark.parametrize('use_void_label', [False, True])
def test_equals_official_steps_on_every_value(reduce_zero_label,
                                              use_void_label):
    labels = np.arange(0, 300, dtype=np.int64).reshape(20, 15)
    out = adapt_seg_labels(
        labels, 40, reduce_zero_label, use_void_label, pad_value=OFFICIAL_PAD)
    np.testing.assert_array_equal(
        out, _official_prose(labels, 40, reduce_zero_label, use_void_label))


def test_transform_on_results():
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        transform = TRANSFORMS.build(
            dict(type='AdaptSegLabels', num_classes=3, reduce_zero_label=True))
    labels = np.array([[0, 1, 2], [3, 255, 1]], dtype=np.uint8)
    results = dict(semseg=labels, img_path=dict(semseg='a/b.png'))
    out = transform(dict(results))['semseg']
    np.testing.assert_array_equal(out, [[255, 0, 1], [2, 255, 0]])
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(labels, [[0, 1, 2], [3, 255, 1]])
    # a label that is out of range after the reduction, with its file
    results['semseg'] = np.array([[4, 1], [9, 255]], dtype=np.uint8)
    with pytest.raises(ValueError, match=r"'a/b.png' has labels \[3, 8\]"):
        transform(results)
    # void labels mark the pixels of a given pad value
    void = AdaptSegLabels(num_classes=3, use_void_label=True, pad_value=254)
    out = void(dict(semseg=np.array([[254, 2], [255, 0]])))['semseg']
    np.testing.assert_array_equal(out, [[3, 2], [255, 0]])
    with pytest.raises(ValueError, match=r'\[7\].*or 3 \(void\)'):
        void(dict(semseg=np.array([[7, 2]])))
    # no num_classes: no range check
    free = AdaptSegLabels()
    np.testing.assert_array_equal(
        free(dict(semseg=np.array([[7, 0]])))['semseg'], [[7, 0]])


def test_bad_arguments():
    with pytest.raises(ValueError, match='pad_value'):
        AdaptSegLabels(num_classes=3, use_void_label=True)
    with pytest.raises(ValueError, match='pad_value'):
        adapt_seg_labels(
            np.zeros((2, 2), np.int64), 3, use_void_label=True, pad_value=None)
    with pytest.raises(TypeError, match='integer numpy array'):
        adapt_seg_labels(np.zeros((2, 2), np.float32), 3)
    with pytest.raises(ValueError, match='void label.*uint8'):
        adapt_seg_labels(np.zeros((2, 2), np.uint8), 300, use_void_label=True)
    with pytest.raises(KeyError, match='semseg'):
        AdaptSegLabels()(dict(rgb=np.zeros((2, 2, 3))))
    with pytest.raises(ValueError, match=r"'x.png'.*\(H, W\)"):
        AdaptSegLabels()(
            dict(
                semseg=np.zeros((2, 2, 1), np.uint8),
                img_path=dict(semseg='x.png')))
