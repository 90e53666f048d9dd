# Copyright (c) mmmultimae contributors. All rights reserved.
"""tools/dataset_converters/nyuv2.py on small files in the real formats."""
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

h5py = pytest.importorskip('h5py')
scipy_io = pytest.importorskip('scipy.io')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'dataset_converters', 'nyuv2.py')
N, H, W = 6, 12, 16
TRAIN, TEST = [1, 3, 4, 6], [2, 5]


def load_tool():
    spec = importlib.util.spec_from_file_location('nyuv2_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nyuv2 = load_tool()


def make_nyu_arrays(seed=0):
    """Per-image arrays as MATLAB shows them: (H, W, 3) and (H, W)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (N, H, W, 3), dtype=np.uint8)
    depths = rng.uniform(0.5, 9.5, (N, H, W)).astype(np.float32)
    raw = depths * (rng.random((N, H, W)) > 0.25)
    labels = rng.integers(0, 895, (N, H, W)).astype(np.uint16)
    labels[:, 0, 0] = 0
    labels[:, 0, 1] = 894
    return dict(images=images, depths=depths, rawDepths=raw, labels=labels)


def write_labeled_mat(path, arrays, drop=(), images_layout=None):
    """Write a MATLAB v7.3 (HDF5) file the way MATLAB stores the arrays.

    MATLAB keeps ``images`` as H x W x 3 x N column-major, so HDF5 (and
    h5py) holds the reversed axes: (N, 3, W, H); H x W x N arrays become
    (N, W, H). Like MATLAB, the file starts with a 512-byte text header.
    """
    with h5py.File(path, 'w', userblock_size=512) as f:
        for key, value in arrays.items():
            if key in drop:
                continue
            if key == 'images':
                stored = value.transpose(0, 3, 2, 1)  # (N, H, W, 3) -> ...
                if images_layout is not None:
                    stored = images_layout(value)
            else:
                stored = value.transpose(0, 2, 1)
            f.create_dataset(key, data=stored)
    with open(path, 'r+b') as f:
        f.write(b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: '
                b'Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .')


def write_inputs(tmp_path, arrays=None, train=TRAIN, test=TEST, **kwargs):
    arrays = make_nyu_arrays() if arrays is None else arrays
    labeled = str(tmp_path / 'nyu_depth_v2_labeled.mat')
    write_labeled_mat(labeled, arrays, **kwargs)
    splits = str(tmp_path / 'splits.mat')
    scipy_io.savemat(
        splits,
        dict(
            trainNdxs=np.array(train, np.uint16)[:, None],
            testNdxs=np.array(test, np.uint16)[:, None]))
    rng = np.random.default_rng(1)
    map_class = rng.integers(1, 41, (1, 894)).astype(np.uint8)
    names = np.empty((1, 40), dtype=object)
    for i in range(40):
        names[0, i] = f'class{i + 1}'
    mapping = str(tmp_path / 'classMapping40.mat')
    scipy_io.savemat(mapping, dict(mapClass=map_class, className=names))
    return labeled, splits, mapping, arrays, map_class.ravel()


def test_convert_nyuv2_files_values_and_meta(tmp_path):
    arrays = make_nyu_arrays()
    arrays['depths'][4, 2, 3] = 70.0  # image 5 (test): beyond 65.535 m
    labeled, splits, mapping, arrays, map_class = write_inputs(
        tmp_path, arrays)
    out = tmp_path / 'out'
    meta = nyuv2.convert_nyuv2(
        labeled, splits, mapping, str(out), log=lambda msg: None)
    for split, ids in (('train', TRAIN), ('test', TEST)):
        for mod in ('rgb', 'depth', 'semseg', 'mask_valid'):
            names = sorted(p.name for p in (out / split / mod).iterdir())
            assert names == [f'{i:04d}.png' for i in ids], (split, mod)
    for nyu_id in TRAIN + TEST:
        split = 'train' if nyu_id in TRAIN else 'test'
        i = nyu_id - 1

        def read(mod):
            return np.array(
                Image.open(out / split / mod / f'{nyu_id:04d}.png'))

        # the transposed HDF5 arrays come back as (H, W[, 3])
        np.testing.assert_array_equal(read('rgb'), arrays['images'][i])
        depth_m = read('depth').astype(np.float64) / 1000
        expected = arrays['depths'][i].astype(np.float64)
        if nyu_id == 5:
            assert depth_m[2, 3] == pytest.approx(65.535)
            depth_m[2, 3] = expected[2, 3] = 0
        assert np.abs(depth_m - expected).max() <= 0.0005 + 1e-6
        semseg = read('semseg')
        labels = arrays['labels'][i].astype(np.int64)
        np.testing.assert_array_equal(semseg[labels == 0], 0)
        np.testing.assert_array_equal(semseg[labels > 0],
                                      map_class[labels[labels > 0] - 1])
        valid = arrays['rawDepths'][i] > 0
        if nyu_id == 5:
            valid[2, 3] = False
        np.testing.assert_array_equal(read('mask_valid'), valid * 255)
    on_disk = json.loads((out / 'meta.json').read_text())
    assert on_disk['dataset'] == 'nyuv2' == meta['dataset']
    assert on_disk['depth_scale'] == 0.001
    assert len(on_disk['classes']) == 40
    assert on_disk['splits']['train']['count'] == 4
    assert on_disk['splits']['test']['count'] == 2
    assert on_disk['splits']['test']['num_clipped_pixels'] == 1
    assert on_disk['splits']['train']['num_clipped_pixels'] == 0
    assert on_disk['splits']['train']['image_size'] == [H, W]
    assert on_disk['sources']['labeled_mat'] == osp.abspath(labeled)
    assert 'rawDepths > 0' in on_disk['notes']['mask_valid']
    assert on_disk['notes']['source_class_names'].startswith('class1, ')

    # the converted folder is what NYUv2Dataset reads
    from mmmultimae.datasets.multimodal_seg_dataset import NYUv2Dataset
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        dataset = NYUv2Dataset(
            str(out),
            split='test',
            optional_modalities=('mask_valid', ),
            pipeline=[
                dict(
                    type='LoadMultiModalImages',
                    modalities=('rgb', 'depth', 'semseg'),
                    depth_scale=1e-3)
            ])
        assert len(dataset) == 2
        sample = dataset[0]
    assert sample['img_id'] == '0002'
    assert np.abs(sample['depth'] - arrays['depths'][1]).max() < 1e-3


def test_convert_nyuv2_rejects_bad_inputs(tmp_path):
    quiet = dict(log=lambda msg: None)
    out = str(tmp_path / 'out')
    # a variable is missing
    labeled, splits, mapping, _, _ = write_inputs(
        tmp_path, drop=('rawDepths', ))
    with pytest.raises(KeyError, match='rawDepths'):
        nyuv2.convert_nyuv2(labeled, splits, mapping, out, **quiet)
    # images stored without the MATLAB axis reversal
    labeled, splits, mapping, _, _ = write_inputs(
        tmp_path, images_layout=lambda v: v)
    with pytest.raises(ValueError, match=r'images has shape \(6, 12, 16, 3'):
        nyuv2.convert_nyuv2(labeled, splits, mapping, out, **quiet)
    # a split index beyond the 6 images
    labeled, splits, mapping, _, _ = write_inputs(tmp_path, test=[2, 7])
    with pytest.raises(ValueError, match=r'test indices \[7\]'):
        nyuv2.convert_nyuv2(labeled, splits, mapping, out, **quiet)
    # an index in both splits, a 0-based index
    labeled, splits, mapping, _, _ = write_inputs(tmp_path, test=[2, 3])
    with pytest.raises(ValueError, match='both'):
        nyuv2.convert_nyuv2(labeled, splits, mapping, out, **quiet)
    labeled, splits, mapping, _, _ = write_inputs(tmp_path, test=[0, 2])
    with pytest.raises(ValueError, match='1-based'):
        nyuv2.convert_nyuv2(labeled, splits, mapping, out, **quiet)
    # a MATLAB v5 file given as the labelled mat
    with pytest.raises(ValueError, match='HDF5'):
        nyuv2.convert_nyuv2(splits, splits, mapping, out, **quiet)
    # the mapping lacks mapClass / has the wrong length
    scipy_io.savemat(mapping, dict(className=np.zeros((1, 40))))
    with pytest.raises(KeyError, match='mapClass'):
        nyuv2.read_class_mapping(mapping)
    scipy_io.savemat(mapping, dict(mapClass=np.ones((1, 40), np.uint8)))
    with pytest.raises(ValueError, match='894'):
        nyuv2.read_class_mapping(mapping)
    with pytest.raises(FileNotFoundError, match='nope.mat'):
        nyuv2.convert_nyuv2(
            str(tmp_path / 'nope.mat'), splits, mapping, out, **quiet)


@pytest.mark.slow
def test_nyuv2_command_line(tmp_path):
    labeled, splits, mapping, _, _ = write_inputs(tmp_path)
    out = tmp_path / 'out'
    proc = subprocess.run(
        [sys.executable, TOOL, labeled, splits, mapping,
         str(out)],
        capture_output=True,
        text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'train 4, test 2' in proc.stdout
    assert (out / 'meta.json').is_file()
    # bad input: a message naming the file and variable, non-zero exit
    with pytest.raises(SystemExit) as exit_info:
        nyuv2.main([labeled, mapping, mapping, str(out)])
    message = str(exit_info.value.code)
    assert message.startswith("error: '") and 'trainNdxs' in message
