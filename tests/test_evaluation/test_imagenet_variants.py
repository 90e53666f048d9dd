# Copyright (c) mmmultimae contributors. All rights reserved.
"""Shipped class lists of ImageNet-1K, ImageNet-A and ImageNet-R."""
import os.path as osp

import pytest
import timm

from mmmultimae.evaluation.imagenet_variants import load_wnids, subset_indices

TIMM_INFO = osp.join(osp.dirname(timm.__file__), 'data', '_info')


def _timm_list(name):
    with open(osp.join(TIMM_INFO, name)) as f:
        return [line.strip() for line in f if line.strip()]


def test_imagenet_wnids():
    wnids = load_wnids('imagenet')
    assert len(wnids) == len(set(wnids)) == 1000
    assert list(wnids) == sorted(wnids)
    assert wnids[0] == 'n01440764' and wnids[-1] == 'n15075141'


@pytest.mark.parametrize('name', ['imagenet-a', 'imagenet-r'])
def test_200_class_subsets(name):
    wnids = load_wnids(name)
    assert len(wnids) == len(set(wnids)) == 200
    indices = subset_indices(wnids)
    assert indices == sorted(indices)  # ImageNet-1K order


def test_lists_equal_timm_copies():
    """timm ships the same lists (an independent copy of the sources)."""
    assert list(load_wnids('imagenet')) == _timm_list('imagenet_synsets.txt')
    assert list(load_wnids('imagenet-a')) == _timm_list(
        'imagenet_a_synsets.txt')
    assert list(load_wnids('imagenet-r')) == _timm_list(
        'imagenet_r_synsets.txt')
    assert subset_indices(load_wnids('imagenet-a')) == [
        int(i) for i in _timm_list('imagenet_a_indices.txt')
    ]


def test_official_imagenet_a_indices():
    """natural-adv-examples eval.py: thousand_k_to_200 starts 6: 0, 11: 1,
    13: 2, 15: 3, 17: 4 (ImageNet-1K class -> ImageNet-A class)."""
    assert subset_indices(load_wnids('imagenet-a'))[:5] == [6, 11, 13, 15, 17]


def test_bad_names():
    with pytest.raises(KeyError, match='imagenet-x'):
        load_wnids('imagenet-x')
    with pytest.raises(ValueError, match='n00000000'):
        subset_indices(['n01440764', 'n00000000'])
