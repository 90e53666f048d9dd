# Copyright (c) mmmultimae contributors. All rights reserved.
"""Convert NYU Depth v2 (labelled subset) into the dense transfer layout.

Example::

    python tools/dataset_converters/nyuv2.py nyu_depth_v2_labeled.mat \
        splits.mat classMapping40.mat data/nyuv2

Output (read by ``NYUv2Dataset``, see
``mmmultimae/datasets/multimodal_seg_dataset.py``)::

    OUT/{train,test}/rgb/<id>.png          8-bit RGB, 640x480
    OUT/{train,test}/depth/<id>.png        uint16 millimetres (filled depth)
    OUT/{train,test}/semseg/<id>.png       NYU40 ids 1..40, 0 = unlabelled
    OUT/{train,test}/mask_valid/<id>.png   255 where the sensor measured
    OUT/meta.json

``<id>`` is the 1-based image index in the labelled set, zero-padded to 4
digits (the numbering of ``splits.mat``).

Input formats (the facts this tool relies on):

* ``nyu_depth_v2_labeled.mat`` (Silberman et al., ECCV 2012) is a MATLAB
  v7.3 file, i.e. HDF5 (read with h5py). MATLAB stores arrays column
  major, so h5py sees them with the axes reversed: ``images`` is
  ``(N, 3, W, H)`` uint8 (MATLAB ``H x W x 3 x N``), ``depths`` (in-painted
  depth) and ``rawDepths`` (sensor depth, 0 = no measurement) are
  ``(N, W, H)`` float metres, ``labels`` is ``(N, W, H)`` with ids 0..894
  (0 = unlabelled); N = 1449, H x W = 480 x 640.
* ``splits.mat`` (MATLAB v5, scipy.io): ``trainNdxs`` (795 x 1) and
  ``testNdxs`` (654 x 1), 1-based indices into the 1449 images.
* ``classMapping40.mat`` (MATLAB v5; from Gupta et al.'s NYUv2-40
  preparation, mirrored in ankurhanda/nyuv2-meta-data): ``mapClass``
  (1 x 894, values 1..40) maps label id ``k`` to ``mapClass[k - 1]``;
  ``className`` (1 x 40 cell) holds the 40 names.

Choices (recorded in meta.json):

* depth is the in-painted ``depths`` (dense), in millimetres;
* ``mask_valid`` is 255 where the Kinect measured depth
  (``rawDepths > 0``), i.e. the in-painted pixels are invalid. The
  official MultiMAE preparation wrote no ``mask_valid`` folder although
  its configs require one (its loader then fails; MultiMAE issues
  #6/#14/#27); its maintainers pointed to Eigen's normal masks instead.
"""
import argparse
import os.path as osp
import sys
import time
from typing import Callable, Dict, List, Tuple

import numpy as np

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmultimae.datasets.multimodal_seg_dataset import (  # noqa: E402
    write_layout_meta, write_seg_sample)

#: Variables of nyu_depth_v2_labeled.mat the converter reads.
NYU_VARIABLES = ('images', 'depths', 'rawDepths', 'labels')
#: Split variables of splits.mat and the split folder they become.
NYU_SPLITS = (('train', 'trainNdxs'), ('test', 'testNdxs'))
#: Number of raw NYUv2 label ids (1..894) mapped by classMapping40.mat.
NUM_RAW_CLASSES = 894
CONVERTER = 'tools/dataset_converters/nyuv2.py'


def read_splits(path: str) -> Dict[str, np.ndarray]:
    """Read ``splits.mat``: ``{'train': ids, 'test': ids}``, 1-based.

    Raises:
        KeyError: If a split variable is missing.
        ValueError: If indices are not positive integers, repeat, or a
            frame is in both splits.
    """
    from scipy.io import loadmat
    mat = loadmat(path)
    splits = {}
    for split, key in NYU_SPLITS:
        if key not in mat:
            names = sorted(k for k in mat if not k.startswith('__'))
            raise KeyError(f"'{path}' has no variable '{key}' (has "
                           f'{names}); expected trainNdxs and testNdxs')
        ids = np.asarray(mat[key]).ravel()
        if ids.size == 0 or not np.issubdtype(ids.dtype, np.number) or \
                (ids != np.round(ids)).any() or ids.min() < 1:
            raise ValueError(f"'{path}': {key} must hold positive integer "
                             '(1-based) image indices')
        ids = ids.astype(np.int64)
        if len(np.unique(ids)) != len(ids):
            raise ValueError(f"'{path}': {key} repeats indices")
        splits[split] = ids
    both = np.intersect1d(splits['train'], splits['test'])
    if both.size:
        raise ValueError(f"'{path}': indices {both[:10].tolist()} are in "
                         'both trainNdxs and testNdxs')
    return splits


def read_class_mapping(path: str) -> Tuple[np.ndarray, List[str]]:
    """Read ``classMapping40.mat`` into a lookup table.

    Returns:
        tuple: ``lut`` uint8 ``(895,)`` with ``lut[k]`` the NYU40 id of
        raw label ``k`` (``lut[0] = 0``, unlabelled), and the file's
        ``className`` list (empty if absent).

    Raises:
        KeyError: If ``mapClass`` is missing.
        ValueError: If it does not hold 894 values in 1..40.
    """
    from scipy.io import loadmat
    mat = loadmat(path)
    if 'mapClass' not in mat:
        names = sorted(k for k in mat if not k.startswith('__'))
        raise KeyError(f"'{path}' has no variable 'mapClass' (has {names})")
    mapping = np.asarray(mat['mapClass']).ravel()
    if mapping.size != NUM_RAW_CLASSES or mapping.min() < 1 or \
            mapping.max() > 40:
        raise ValueError(
            f"'{path}': mapClass must hold {NUM_RAW_CLASSES} NYU40 ids in "
            f'1..40, got {mapping.size} values in '
            f'{mapping.min()}..{mapping.max()}')
    lut = np.zeros(NUM_RAW_CLASSES + 1, dtype=np.uint8)
    lut[1:] = mapping
    names = []
    if 'className' in mat:
        names = [
            str(np.asarray(c).ravel()[0])
            for c in np.asarray(mat['className']).ravel()
        ]
    return lut, names


def check_labeled_mat(f, path: str) -> Tuple[int, int, int]:
    """Check the variables and axis layout of the opened labelled mat.

    Returns:
        tuple: ``(N, H, W)``.
    """
    missing = [k for k in NYU_VARIABLES if k not in f]
    if missing:
        raise KeyError(f"'{path}' lacks variables {missing} (has "
                       f'{sorted(f.keys())})')
    images = f['images']
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(
            f"'{path}': images has shape {images.shape}; expected "
            '(N, 3, W, H) as h5py reads a MATLAB v7.3 H x W x 3 x N array')
    num, _, width, height = images.shape
    for key in NYU_VARIABLES[1:]:
        if f[key].shape != (num, width, height):
            raise ValueError(
                f"'{path}': {key} has shape {f[key].shape}; expected "
                f'{(num, width, height)} (N, W, H) to match images')
    return num, height, width


def read_nyu_sample(f, index: int) -> Dict[str, np.ndarray]:
    """Read image ``index`` (0-based) as ``(H, W[, 3])`` arrays."""
    return dict(
        rgb=np.ascontiguousarray(f['images'][index].transpose(2, 1, 0)),
        depth=np.asarray(f['depths'][index]).T.astype(np.float32),
        raw_depth=np.asarray(f['rawDepths'][index]).T.astype(np.float32),
        labels=np.asarray(f['labels'][index]).T)


def convert_nyuv2(labeled_mat: str,
                  splits_mat: str,
                  mapping_mat: str,
                  out_root: str,
                  log: Callable[[str], None] = print) -> dict:
    """Convert NYUv2 into ``out_root/{train,test}/<modality>/<id>.png``.

    Args:
        labeled_mat (str): ``nyu_depth_v2_labeled.mat``.
        splits_mat (str): ``splits.mat``.
        mapping_mat (str): ``classMapping40.mat``.
        out_root (str): Output root.
        log (callable): Progress messages.

    Returns:
        dict: The meta written to ``out_root/meta.json``.
    """
    import h5py
    for path in (labeled_mat, splits_mat, mapping_mat):
        if not osp.isfile(path):
            raise FileNotFoundError(f"input file '{path}' does not exist")
    if not h5py.is_hdf5(labeled_mat):
        raise ValueError(
            f"'{labeled_mat}' is not an HDF5 (MATLAB v7.3) file; "
            'nyu_depth_v2_labeled.mat is distributed as MATLAB v7.3')
    splits = read_splits(splits_mat)
    lut, source_names = read_class_mapping(mapping_mat)
    stats = {}
    with h5py.File(labeled_mat, 'r') as f:
        num, height, width = check_labeled_mat(f, labeled_mat)
        for split, ids in splits.items():
            if ids.max() > num:
                bad = ids[ids > num][:10].tolist()
                raise ValueError(
                    f"'{splits_mat}': {split} indices {bad} are out of range"
                    f" for {num} images in '{labeled_mat}' (1-based)")
        for split, ids in splits.items():
            split_root = osp.join(out_root, split)
            clipped = invalid = 0
            start = time.time()
            for n, nyu_id in enumerate(ids.tolist()):
                sample = read_nyu_sample(f, nyu_id - 1)
                labels = sample['labels']
                if labels.max() > NUM_RAW_CLASSES:
                    raise ValueError(
                        f"'{labeled_mat}': image {nyu_id} has label id "
                        f'{int(labels.max())} > {NUM_RAW_CLASSES}')
                semseg = lut[labels.astype(np.int64)]
                raw = sample['raw_depth']
                counts = write_seg_sample(
                    split_root,
                    f'{nyu_id:04d}',
                    sample['rgb'],
                    sample['depth'],
                    semseg,
                    valid=np.isfinite(raw) & (raw > 0))
                clipped += counts['num_clipped']
                invalid += counts['num_invalid']
                if (n + 1) % 100 == 0 or n + 1 == len(ids):
                    log(f'{split}: {n + 1}/{len(ids)} images '
                        f'({time.time() - start:.0f} s)')
            stats[split] = dict(
                count=len(ids),
                num_clipped_pixels=clipped,
                num_invalid_pixels=invalid,
                image_size=[height, width])
            if clipped:
                log(f'{split}: {clipped} depth pixels beyond 65.535 m were '
                    'clipped and marked invalid')
    return write_layout_meta(
        out_root,
        dataset='nyuv2',
        splits=stats,
        sources=dict(
            labeled_mat=osp.abspath(labeled_mat),
            splits_mat=osp.abspath(splits_mat),
            class_mapping_mat=osp.abspath(mapping_mat)),
        converter=CONVERTER,
        notes=dict(
            stems='1-based index in nyu_depth_v2_labeled.mat, 4 digits',
            depth='in-painted `depths` (dense), millimetres',
            mask_valid='rawDepths > 0: pixels measured by the sensor; '
            'in-painted pixels are invalid',
            semseg='raw ids 1..894 mapped by classMapping40.mat mapClass;'
            ' 0 stays 0 (unlabelled)',
            source_class_names=', '.join(source_names)))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert NYU Depth v2 (nyu_depth_v2_labeled.mat) into '
        'OUT/{train,test}/{rgb,depth,semseg,mask_valid}/<id>.png.')
    parser.add_argument('labeled_mat', help='nyu_depth_v2_labeled.mat')
    parser.add_argument('splits_mat', help='splits.mat (trainNdxs/testNdxs)')
    parser.add_argument('mapping_mat', help='classMapping40.mat')
    parser.add_argument('out_root', help='output root folder')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start = time.time()
    try:
        meta = convert_nyuv2(args.labeled_mat, args.splits_mat,
                             args.mapping_mat, args.out_root)
    except (FileNotFoundError, KeyError, ValueError) as err:
        # KeyError's str() quotes its message
        sys.exit(f'error: {err.args[0] if err.args else err}')
    counts = ', '.join(f'{k} {v["count"]}' for k, v in meta['splits'].items())
    print(f'{args.out_root}: wrote {counts} samples '
          f'({time.time() - start:.0f} s)')


if __name__ == '__main__':
    main()
