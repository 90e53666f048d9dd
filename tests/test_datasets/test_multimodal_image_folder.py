# Copyright (c) mmmultimae contributors. All rights reserved.
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

import mmmultimae.datasets.multimodal_image_folder as folder_module
from mmmultimae.datasets import MultiModalImageFolder
from mmmultimae.datasets.synthetic.codecs import palette_image
from mmmultimae.registry import DATASETS

# sample name -> id encoded in every modality of that sample
SAMPLES = {'cat': ['a', 'b', 'c'], 'dog': ['d']}
IDS = {'a': 1, 'b': 2, 'c': 3, 'd': 4, 'e': 5}


@pytest.fixture(autouse=True)
def mmmultimae_scope():
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        yield


def _write(root, mod, cls, name, sample, ext=None):
    """Write a 6x8 image of ``mod`` whose pixels encode ``sample``."""
    folder = osp.join(root, mod, cls)
    os.makedirs(folder, exist_ok=True)
    value = IDS[sample]
    if mod == 'rgb':
        img = Image.fromarray(np.full((6, 8, 3), 40 * value, np.uint8))
        ext = ext or '.png'
    elif mod == 'depth':
        img = Image.fromarray(np.full((6, 8), 1000 * value, np.uint16))
        ext = ext or '.png'
    else:
        img = palette_image(np.full((6, 8), value, np.uint8))
        ext = ext or '.png'
    path = osp.join(folder, name + ext)
    img.save(path)
    return path


def _make_tree(root, skip_depth=(), extra_depth=()):
    for cls, names in SAMPLES.items():
        for name in names:
            _write(root, 'rgb', cls, name, name)
            _write(root, 'semseg', cls, name, name)
            if name not in skip_depth:
                _write(root, 'depth', cls, 'pseudo_' + name, name)
    for cls, name in extra_depth:
        _write(root, 'depth', cls, 'pseudo_' + name, name)


def _dataset(root, **kwargs):
    kwargs.setdefault('prefixes', dict(depth='pseudo_'))
    return MultiModalImageFolder(
        str(root),
        pipeline=[dict(type='LoadMultiModalImages', depth_scale=1.0)],
        **kwargs)


def test_pairs_by_stem_with_prefix(tmp_path):
    _make_tree(str(tmp_path))
    dataset = _dataset(tmp_path)
    assert dataset.metainfo['classes'] == ('cat', 'dog')
    assert len(dataset) == 4
    for i, name in enumerate(['a', 'b', 'c', 'd']):
        info = dataset.get_data_info(i)
        assert info['gt_label'] == (1 if name == 'd' else 0)
        assert info['sample_idx'] == i
        assert osp.basename(info['img_path']['depth']) == f'pseudo_{name}.png'
        assert osp.basename(info['img_path']['rgb']) == f'{name}.png'
        sample = dataset[i]
        assert sample['modalities'] == ('rgb', 'depth', 'semseg')
        assert (sample['rgb'] == 40 * IDS[name]).all()
        assert (sample['depth'] == 1000 * IDS[name]).all()
        assert (sample['semseg'] == IDS[name]).all()


def test_missing_and_extra_files_are_not_mispaired(tmp_path):
    # depth lacks 'b' and has an unrelated 'e': sorted-index pairing (the
    # official loader) would pair b with c and c with e
    _make_tree(str(tmp_path), skip_depth=('b', ), extra_depth=[('cat', 'e')])
    rgb = sorted(os.listdir(tmp_path / 'rgb' / 'cat'))
    depth = sorted(os.listdir(tmp_path / 'depth' / 'cat'))
    assert list(zip(rgb, depth))[1] == ('b.png', 'pseudo_c.png')

    expected = osp.join(str(tmp_path), 'rgb', 'cat', 'b.png')
    with pytest.raises(FileNotFoundError) as err:
        _dataset(tmp_path)
    assert expected in str(err.value)
    assert osp.join('depth', 'cat', 'pseudo_b') in str(err.value)

    dataset = _dataset(tmp_path, on_missing='skip')
    assert len(dataset) == 3 and dataset.num_skipped == 1
    for i, name in enumerate(['a', 'c', 'd']):
        sample = dataset[i]
        assert (sample['rgb'] == 40 * IDS[name]).all()
        assert (sample['depth'] == 1000 * IDS[name]).all()


def test_skip_is_logged_once_with_count(tmp_path, monkeypatch):
    messages = []
    monkeypatch.setattr(folder_module, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    _make_tree(str(tmp_path), skip_depth=('a', 'c'))
    dataset = _dataset(tmp_path, on_missing='skip')
    assert len(dataset) == 2 and dataset.num_skipped == 2
    assert len(messages) == 1
    assert 'skipped 2 of 4 samples' in messages[0]
    assert osp.join('rgb', 'cat', 'a.png') in messages[0]


def test_missing_modality_folder(tmp_path):
    _make_tree(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="modality 'normal'"):
        _dataset(tmp_path, modalities=('rgb', 'depth', 'normal'))
    with pytest.raises(FileNotFoundError, match='rgb'):
        _dataset(tmp_path / 'nowhere')


def test_ambiguous_counterpart(tmp_path):
    _make_tree(str(tmp_path))
    other = str(tmp_path / 'depth' / 'cat' / 'pseudo_a.jp2')
    open(other, 'wb').close()  # scanning does not read the file
    with pytest.raises(ValueError, match='ambiguous') as err:
        _dataset(tmp_path)
    assert other in str(err.value)


def test_extensions_prefixes_and_data_prefix(tmp_path):
    root = tmp_path / 'train'
    _write(str(root), 'rgb', 'cat', 'a', 'a', '.JPEG')
    _write(str(root), 'depth', 'cat', 'pseudo_a', 'a')
    os.rename(root / 'depth' / 'cat' / 'pseudo_a.png',
              root / 'depth' / 'cat' / 'pseudo_a.jp2')  # not read here
    _write(str(root), 'depth', 'cat', 'a', 'b')  # no prefix: not depth of a
    (root / 'rgb' / 'cat' / 'notes.txt').write_text('not an image')
    (root / 'rgb' / 'stray.png').write_bytes(b'')  # outside class folders
    dataset = MultiModalImageFolder(
        str(tmp_path),
        data_prefix=dict(img_path='train'),
        modalities=('rgb', 'depth'),
        prefixes=dict(depth='pseudo_'),
        extensions=dict(rgb=('.jpeg', )))
    assert len(dataset) == 1
    paths = dataset.get_data_info(0)['img_path']
    assert paths['rgb'].endswith(osp.join('cat', 'a.JPEG'))
    assert paths['depth'].endswith(osp.join('cat', 'pseudo_a.jp2'))
    with pytest.raises(ValueError, match='not in modalities'):
        MultiModalImageFolder(
            str(root), modalities=('rgb', ), prefixes=dict(depth='x'))


def test_max_images_subset(tmp_path):
    _make_tree(str(tmp_path))
    full = _dataset(tmp_path)
    paths = [full.get_data_info(i)['img_path']['rgb'] for i in range(4)]
    subsets = []
    for _ in range(2):
        dataset = _dataset(tmp_path, max_images=2, max_images_seed=7)
        assert len(dataset) == 2
        subset = [
            dataset.get_data_info(i)['img_path']['rgb'] for i in range(2)
        ]
        assert [dataset.get_data_info(i)['sample_idx']
                for i in range(2)] == [0, 1]
        assert subset == sorted(subset, key=paths.index)
        subsets.append(subset)
    assert subsets[0] == subsets[1]
    assert set(subsets[0]) <= set(paths)
    assert len(_dataset(tmp_path, max_images=10)) == 4
    with pytest.raises(ValueError, match='max_images'):
        _dataset(tmp_path, max_images=0)


def test_built_from_registry(tmp_path):
    _make_tree(str(tmp_path))
    dataset = DATASETS.build(
        dict(
            type='MultiModalImageFolder',
            data_root=str(tmp_path),
            prefixes=dict(depth='pseudo_'),
            pipeline=[
                dict(type='LoadMultiModalImages'),
                dict(type='MultiModalRandomResizedCrop', size=8),
                dict(type='MultiModalRandomFlip'),
                dict(type='DownsampleLabels'),
                dict(type='PackMultiModalInputs', num_classes=5)
            ]))
    packed = dataset[3]
    assert packed['inputs']['rgb'].shape == (3, 8, 8)
    assert packed['inputs']['semseg'].shape == (2, 2)
    assert (packed['inputs']['semseg'] == IDS['d']).all()
    np.testing.assert_allclose(packed['inputs']['depth'].numpy(), 4000 / 2**16)
    assert packed['data_samples'].metainfo['gt_label'] == 1
