# Copyright (c) mmmultimae contributors. All rights reserved.
"""The root/<split>/<modality>/<stem>.png layout: writer and datasets."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

import mmmultimae.datasets.multimodal_seg_dataset as seg_module
from mmmultimae.datasets.multimodal_seg_dataset import (
    DEPTH_SCALE, NYU40_CLASSES, NYU40_PALETTE, HypersimDataset,
    MultiModalSegDataset, NYUv2Dataset, encode_depth_mm, write_layout_meta,
    write_seg_sample)
from mmmultimae.registry import DATASETS

H, W = 6, 8


@pytest.fixture(autouse=True)
def mmmultimae_scope():
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        yield


def _sample(seed):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    depth = rng.uniform(0.3, 9.0, (H, W))
    semseg = rng.integers(0, 41, (H, W))
    valid = rng.random((H, W)) > 0.2
    return rgb, depth, semseg, valid


def _write_split(root, split, stems):
    written = {}
    for i, stem in enumerate(stems):
        sample = _sample(i)
        write_seg_sample(osp.join(root, split), stem, *sample)
        written[stem] = sample
    return written


def test_encode_depth_mm_rounds_clips_and_marks_invalid():
    depth = np.array([[0.0, 1.23449, 2.5], [65.535, 65.5356, np.nan],
                      [70.0, np.inf, 3.0]])
    given = np.ones((3, 3), bool)
    given[2, 2] = False
    mm, valid, clipped = encode_depth_mm(depth, given)
    assert mm.dtype == np.uint16
    np.testing.assert_array_equal(
        mm, [[0, 1234, 2500], [65535, 65535, 0], [65535, 0, 3000]])
    np.testing.assert_array_equal(
        valid,
        [[False, True, True], [True, False, False], [False, False, False]])
    assert clipped == 2  # 65.5356 and 70.0 (inf is not finite)
    with pytest.raises(ValueError, match='negative'):
        encode_depth_mm(np.array([[1.0, -0.5]]))
    with pytest.raises(ValueError, match='shape'):
        encode_depth_mm(np.ones((2, 2)), np.ones((2, 3), bool))


def test_write_seg_sample_files_round_trip(tmp_path):
    rgb, depth, semseg, valid = _sample(0)
    depth[0, 0] = 80.0  # beyond uint16 millimetres
    counts = write_seg_sample(str(tmp_path), '0007', rgb, depth, semseg, valid)
    assert counts['num_clipped'] == 1
    files = {
        m: Image.open(tmp_path / m / '0007.png')
        for m in ('rgb', 'depth', 'semseg', 'mask_valid')
    }
    assert files['rgb'].mode == 'RGB'
    assert files['depth'].mode == 'I;16'
    assert files['semseg'].mode == 'P'
    assert files['mask_valid'].mode == 'L'
    np.testing.assert_array_equal(np.array(files['rgb']), rgb)
    np.testing.assert_array_equal(np.array(files['semseg']), semseg)
    palette = files['semseg'].getpalette()[:41 * 3]
    assert palette[:3] == [0, 0, 0]
    assert palette[3:] == [c for colour in NYU40_PALETTE for c in colour]
    expected_valid = valid.copy()
    expected_valid[0, 0] = False
    np.testing.assert_array_equal(
        np.array(files['mask_valid']), expected_valid * 255)
    assert counts['num_invalid'] == int((~expected_valid).sum())
    stored = np.array(files['depth']).astype(np.float64) * DEPTH_SCALE
    assert stored[0, 0] == pytest.approx(65.535)
    assert np.abs(stored - depth)[1:].max() <= 0.0005 + 1e-9
    with pytest.raises(ValueError, match='0..40'):
        write_seg_sample(str(tmp_path), 'x', rgb, depth, semseg + 1)
    with pytest.raises(ValueError, match='depth shape'):
        write_seg_sample(str(tmp_path), 'x', rgb, depth[:, :4], semseg)


def test_write_layout_meta_schema(tmp_path):
    meta = write_layout_meta(
        str(tmp_path),
        dataset='toy',
        splits=dict(train=dict(count=3)),
        sources=dict(a='/x'),
        converter='tool.py',
        notes=dict(depth='mm'))
    on_disk = json.loads((tmp_path / 'meta.json').read_text())
    assert on_disk == json.loads(json.dumps(meta))
    assert on_disk['depth_scale'] == 0.001 and on_disk['depth_unit'] == 'mm'
    assert on_disk['classes'] == list(NYU40_CLASSES)
    assert len(on_disk['palette']) == 40
    assert set(on_disk) == {
        'dataset', 'layout', 'layout_version', 'converter', 'modalities',
        'depth_unit', 'depth_scale', 'max_depth_m', 'semseg', 'classes',
        'palette', 'splits', 'sources', 'notes'
    }


def test_dataset_lists_pairs_and_optional_modalities(tmp_path):
    written = _write_split(tmp_path, 'train', ['0003', '0001', '0002'])
    os.remove(tmp_path / 'train' / 'mask_valid' / '0002.png')
    dataset = MultiModalSegDataset(
        str(tmp_path),
        split='train',
        optional_modalities=('mask_valid', ),
        pipeline=[
            dict(
                type='LoadMultiModalImages',
                modalities=('rgb', 'depth', 'semseg'),
                depth_scale=1e-3)
        ])
    assert len(dataset) == 3
    infos = [dataset.get_data_info(i) for i in range(3)]
    assert [i['img_id'] for i in infos] == ['0001', '0002', '0003']
    assert set(infos[0]) == {'img_path', 'img_id', 'sample_idx'}
    assert [i['sample_idx'] for i in infos] == [0, 1, 2]
    assert set(
        infos[0]['img_path']) == {'rgb', 'depth', 'semseg', 'mask_valid'}
    assert set(infos[1]['img_path']) == {'rgb', 'depth', 'semseg'}
    assert infos[2]['img_path']['depth'] == osp.join(
        str(tmp_path), 'train', 'depth', '0003.png')
    out = dataset[0]
    rgb, depth, semseg, _ = written['0001']
    np.testing.assert_array_equal(out['rgb'], rgb)
    np.testing.assert_array_equal(out['semseg'], semseg)
    assert np.abs(out['depth'] - depth).max() <= 0.0005 + 1e-6


def test_dataset_errors_and_warnings(tmp_path, monkeypatch):
    _write_split(tmp_path, 'train', ['0001', '0002'])
    os.remove(tmp_path / 'train' / 'semseg' / '0002.png')
    with pytest.raises(FileNotFoundError) as err:
        MultiModalSegDataset(str(tmp_path), split='train')
    assert 'rgb/0002.png' in str(err.value)
    assert osp.join('train', 'semseg') in str(err.value)
    # an extra file in another modality is reported, not an error
    _write_split(tmp_path, 'val', ['0001'])
    Image.fromarray(np.zeros(
        (H, W), np.uint16)).save(tmp_path / 'val' / 'depth' / '0099.png')
    messages = []
    monkeypatch.setattr(seg_module, 'print_log',
                        lambda msg, **kw: messages.append(msg))
    dataset = MultiModalSegDataset(str(tmp_path), split='val')
    assert len(dataset) == 1 and dataset.num_unpaired == 1
    assert len(messages) == 1 and '0099.png' in messages[0]
    # missing folders / no samples
    with pytest.raises(FileNotFoundError, match="modality 'edge'"):
        MultiModalSegDataset(
            str(tmp_path), split='val', modalities=('rgb', 'semseg', 'edge'))
    os.makedirs(tmp_path / 'empty' / 'rgb')
    with pytest.raises(FileNotFoundError, match=osp.join('empty', 'rgb')):
        MultiModalSegDataset(
            str(tmp_path), split='empty', modalities=('rgb', ))
    with pytest.raises(ValueError, match='split or data_prefix'):
        MultiModalSegDataset(
            str(tmp_path), split='val', data_prefix=dict(img_path='val'))
    with pytest.raises(ValueError, match='distinct'):
        MultiModalSegDataset(
            str(tmp_path), split='val', optional_modalities=('rgb', ))


def test_nyu40_datasets_from_registry(tmp_path):
    _write_split(tmp_path, 'test', ['0002'])
    for name, cls in (('NYUv2Dataset', NYUv2Dataset), ('HypersimDataset',
                                                       HypersimDataset)):
        dataset = DATASETS.build(
            dict(
                type=name,
                data_root=str(tmp_path),
                data_prefix=dict(img_path='test'),
                optional_modalities=('mask_valid', )))
        assert isinstance(dataset, cls)
        assert dataset.metainfo['classes'] == NYU40_CLASSES
        assert len(dataset.metainfo['classes']) == 40
        assert dataset.metainfo['palette'] == NYU40_PALETTE
        assert 'mask_valid' in dataset.get_data_info(0)['img_path']
    # the generic class has no class names
    generic = MultiModalSegDataset(str(tmp_path), split='test')
    assert 'classes' not in generic.metainfo
