# Copyright (c) mmmultimae contributors. All rights reserved.
"""Pseudo-label encodings, output-root checks, sharding
(``mmmultimae/apis/pseudo_label.py``) and label quality
(``mmmultimae/apis/label_quality.py``); the tool's runs are in
``tests/test_tools/test_pseudo_label.py``."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from PIL import Image

from mmmultimae.apis.label_quality import (constant_labels,
                                           depth_label_quality,
                                           semseg_label_quality)
from mmmultimae.apis.pseudo_label import (DEPTH_SCALE, GENERATOR,
                                          MAX_UINT16_CLASSES, META_FILE,
                                          check_meta, encode_depth_png,
                                          encode_semseg, first_test_mode,
                                          prepare_out_root, semseg_encoding,
                                          shard)
from mmmultimae.datasets import MultiModalImageFolder
from mmmultimae.datasets.transforms import LoadMultiModalImages


def load(modality, path, depth_scale=DEPTH_SCALE):
    loader = LoadMultiModalImages(
        modalities=(modality, ), depth_scale=depth_scale)
    return loader(dict(img_path={modality: str(path)}))[modality]


def test_semseg_encoding_by_class_count():
    assert semseg_encoding(1) == 'palette'
    assert semseg_encoding(255) == 'palette'
    assert semseg_encoding(256) == 'uint16'
    assert semseg_encoding(MAX_UINT16_CLASSES) == 'uint16'
    with pytest.raises(ValueError, match='65536 classes cannot be stored'):
        semseg_encoding(MAX_UINT16_CLASSES + 1)
    with pytest.raises(ValueError, match='>= 1'):
        semseg_encoding(0)


@pytest.mark.parametrize('encoding,top,mode', [('palette', 254, 'P'),
                                               ('uint16', 65534, 'I;16')])
def test_semseg_png_round_trip(tmp_path, encoding, top, mode):
    labels = np.random.default_rng(0).integers(0, top + 1, (7, 9))
    labels[0, 0] = top
    encode_semseg(labels, encoding, [[1, 2, 3]] * 3).save(tmp_path / 'a.png')
    with Image.open(tmp_path / 'a.png') as img:
        assert img.mode == mode
    loaded = load('semseg', tmp_path / 'a.png')
    np.testing.assert_array_equal(loaded, labels)
    with pytest.raises(ValueError, match='do not fit the'):
        encode_semseg(labels + 1, encoding)


def test_depth_png_round_trip_and_clipping(tmp_path):
    depth = np.linspace(0.01, 30, 6 * 8, dtype=np.float32).reshape(6, 8)
    code, clipped = encode_depth_png(depth)
    assert clipped == 0 and code.dtype == np.uint16
    Image.fromarray(code).save(tmp_path / 'd.png')
    loaded = load('depth', tmp_path / 'd.png')
    np.testing.assert_allclose(loaded, depth, atol=DEPTH_SCALE / 2 + 1e-6)
    depth[0, :3] = (-1., 128., 500.)
    code, clipped = encode_depth_png(depth)
    assert clipped == 3
    assert code[0, :3].tolist() == [0, 2**16 - 1, 2**16 - 1]
    depth[1, 1] = np.nan
    with pytest.raises(ValueError, match='1 non-finite'):
        encode_depth_png(depth)


def test_16bit_labels_go_through_the_pretraining_pipeline(tmp_path):
    """Labels of more than 255 classes (16-bit PNGs) load, crop, flip,
    downsample and pack like palette labels."""
    semseg = np.full((32, 48), 256, np.int64)
    semseg[:, 24:] = 299
    for mod, img in (('rgb', Image.new('RGB', (48, 32), (9, 9, 9))),
                     ('depth',
                      Image.fromarray(np.full((32, 48), 900, np.uint16))),
                     ('semseg', encode_semseg(semseg, 'uint16'))):
        os.makedirs(tmp_path / mod / 'cls')
        img.save(tmp_path / mod / 'cls' / 'x.png')
    pipeline = [
        dict(type='LoadMultiModalImages', depth_scale=DEPTH_SCALE),
        dict(type='MultiModalRandomResizedCrop', size=16, scale=(0.9, 1.0)),
        dict(type='MultiModalRandomFlip', prob=1.0),
        dict(type='DownsampleLabels', factor=4),
        dict(type='PackMultiModalInputs', num_classes=300),
    ]
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        dataset = MultiModalImageFolder(str(tmp_path), pipeline=pipeline)
        packed = dataset[0]['inputs']['semseg']
    assert packed.dtype == torch.int64 and packed.shape == (4, 4)
    # flipped: the 299 half is on the left now
    assert set(packed[:, 0].tolist()) == {299}
    assert set(packed[:, -1].tolist()) == {256}
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        pipeline[-1]['num_classes'] = 299
        with pytest.raises(ValueError, match=r'class ids \[299\]'):
            MultiModalImageFolder(str(tmp_path), pipeline=pipeline)[0]


def test_shards_are_disjoint_and_cover():
    items = list(range(11))
    parts = [shard(items, r, 3) for r in range(3)]
    assert sorted(sum(parts, [])) == items
    assert [len(p) for p in parts] == [4, 4, 3]
    with pytest.raises(ValueError, match='rank 3 is not in'):
        shard(items, 3, 3)


def test_first_test_mode():
    cfg = first_test_mode(
        dict(mode=['resize_pad', 'slide'], size=64, protocol='official'))
    assert cfg.mode == 'resize_pad' and cfg.protocol == 'full'
    assert cfg.size == 64
    assert first_test_mode(None).mode == 'whole'


def _meta(num_classes=10, classes=None, modalities=('rgb', 'semseg')):
    meta = dict(
        generator=GENERATOR,
        source='/src',
        modalities=list(modalities),
        rgb=dict(storage='copy'))
    meta['semseg'] = dict(
        config='a.py',
        checkpoint='a.pth',
        num_classes=num_classes,
        classes=classes,
        encoding=semseg_encoding(num_classes))
    return meta


def test_output_root_checks(tmp_path):
    root = str(tmp_path / 'out')
    prepare_out_root(root, _meta())
    with open(osp.join(root, META_FILE)) as f:
        assert json.load(f)['semseg']['num_classes'] == 10
    prepare_out_root(root, _meta())  # the same dataset: resumes
    with pytest.raises(
            ValueError,
            match='class count mismatch: .* 10 '
            'classes .* the --semseg model has 150'):
        prepare_out_root(root, _meta(150))
    with pytest.raises(ValueError, match='semseg classes'):
        check_meta(_meta(2, ['a', 'b']), _meta(2, ['a', 'c']), root)
    with pytest.raises(ValueError, match='holds modalities'):
        check_meta(_meta(), _meta(modalities=('rgb', 'depth', 'semseg')), root)
    with pytest.raises(ValueError, match='was not written by'):
        check_meta(dict(_meta(), generator='other'), _meta(), root)
    other = tmp_path / 'other'
    os.makedirs(other / 'rgb')
    with pytest.raises(
            ValueError, match='not empty .*rgb.* holds no '
            'pseudo_labels.json'):
        prepare_out_root(str(other), _meta())
    assert os.listdir(other) == ['rgb']


def _label_root(root, depth, semseg):
    for mod, arrays in (('depth', depth), ('semseg', semseg)):
        os.makedirs(osp.join(root, mod, 'c'), exist_ok=True)
        for i, array in enumerate(arrays):
            img = Image.fromarray(encode_depth_png(array)[0]) \
                if mod == 'depth' else encode_semseg(array, 'palette')
            img.save(osp.join(root, mod, 'c', f'{i}.png'))


def test_label_quality_against_ground_truth(tmp_path):
    rng = np.random.default_rng(0)
    gt_depth = [rng.uniform(1, 5, (8, 8)).astype(np.float32) for _ in range(2)]
    gt_semseg = [rng.integers(0, 3, (8, 8)) for _ in range(2)]
    gt, pred = str(tmp_path / 'gt'), str(tmp_path / 'pred')
    _label_root(gt, gt_depth, gt_semseg)
    # prediction: depth 1.3x too far in image 0, exact in image 1; semseg
    # right except class 2 -> 0 everywhere
    _label_root(pred, [gt_depth[0] * 1.3, gt_depth[1]],
                [np.where(s == 2, 0, s) for s in gt_semseg])
    depth = depth_label_quality(pred, gt)
    assert depth['delta1'] == pytest.approx(0.5)
    assert depth['abs_rel'] == pytest.approx(0.15, abs=2e-3)
    semseg = semseg_label_quality(pred, gt, 3)
    counts = np.bincount(np.concatenate(gt_semseg).ravel(), minlength=3)
    assert semseg['aAcc'] == pytest.approx(100 * counts[:2].sum() /
                                           counts.sum())
    iou0 = counts[0] / counts[[0, 2]].sum()
    assert semseg['mIoU'] == pytest.approx(100 * (iou0 + 1 + 0) / 3)
    # the best constants of the ground truth, scored the same way
    median, majority = constant_labels(gt, 3)
    assert majority == counts.argmax()
    codes = np.concatenate([encode_depth_png(d)[0].ravel()
                            for d in gt_depth]) * DEPTH_SCALE
    assert median == pytest.approx(float(np.median(codes)))
    constant = semseg_label_quality(pred, gt, 3, constant=majority)
    assert constant['aAcc'] == pytest.approx(100 * counts.max() / counts.sum())
    constant = depth_label_quality(pred, gt, constant=2.0)
    ratio = np.maximum(codes / 2.0, 2.0 / codes)
    assert constant['delta1'] == pytest.approx((ratio < 1.25).mean())
    os.remove(osp.join(gt, 'depth', 'c', '1.png'))
    with pytest.raises(FileNotFoundError, match='no ground truth'):
        depth_label_quality(pred, gt)
