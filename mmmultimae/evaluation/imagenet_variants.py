# Copyright (c) mmmultimae contributors. All rights reserved.
"""Class lists and reference numbers of ImageNet-1K and its robustness
variants, read from the data files shipped in ``evaluation/data``.

- ImageNet-1K: 1000 wnids, sorted (class index = position);
- ImageNet-A and ImageNet-R: 200 ImageNet-1K classes each, in ImageNet-1K
  order (their class ``i`` is the ``i``-th wnid of the list);
- ImageNet-C: AlexNet's error per corruption (the mCE normaliser).

Each file names its source in its header.
"""
import functools
import os.path as osp
from typing import Dict, List, Sequence, Tuple

DATA_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'data')

#: Class-list files by dataset name.
WNID_FILES = {
    'imagenet': 'imagenet_wnids.txt',
    'imagenet-a': 'imagenet_a_wnids.txt',
    'imagenet-r': 'imagenet_r_wnids.txt',
}


def _data_lines(filename: str) -> List[str]:
    """Non-empty, non-comment lines of a data file."""
    path = osp.join(DATA_DIR, filename)
    with open(path) as f:
        lines = [line.strip() for line in f]
    return [line for line in lines if line and not line.startswith('#')]


@functools.lru_cache(maxsize=None)
def load_wnids(dataset: str = 'imagenet') -> Tuple[str, ...]:
    """The class wnids of ``dataset`` (``'imagenet'``, ``'imagenet-a'`` or
    ``'imagenet-r'``), in class-index order.

    Raises:
        KeyError: If the dataset has no class list.
    """
    if dataset not in WNID_FILES:
        raise KeyError(f'no class list for {dataset!r}; known: '
                       f'{sorted(WNID_FILES)}')
    return tuple(_data_lines(WNID_FILES[dataset]))


def subset_indices(wnids: Sequence[str]) -> List[int]:
    """ImageNet-1K class indices of ``wnids`` (in the given order).

    Raises:
        ValueError: If a wnid is not an ImageNet-1K class.
    """
    index = {wnid: i for i, wnid in enumerate(load_wnids('imagenet'))}
    unknown = [w for w in wnids if w not in index]
    if unknown:
        raise ValueError(f'{len(unknown)} wnids are not ImageNet-1K classes: '
                         f'{unknown[:10]}')
    return [index[w] for w in wnids]


@functools.lru_cache(maxsize=None)
def _alexnet_errors() -> Tuple[Tuple[str, float], ...]:
    pairs = (line.split() for line in _data_lines(
        'imagenet_c_alexnet_errors.txt'))
    return tuple((name, float(value)) for name, value in pairs)


def alexnet_corruption_errors() -> Dict[str, float]:
    """AlexNet's ImageNet-C top-1 error (fraction, mean over the 5
    severities) of each of the 15 corruptions (a new dict)."""
    return dict(_alexnet_errors())
