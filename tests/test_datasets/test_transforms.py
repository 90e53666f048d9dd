# Copyright (c) mmmultimae contributors. All rights reserved.
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from PIL import Image, features

from mmmultimae.datasets.synthetic.codecs import encode_normals, palette_image
from mmmultimae.datasets.transforms import (DownsampleLabels,
                                            LoadMultiModalImages,
                                            MultiModalRandomFlip,
                                            MultiModalRandomResizedCrop,
                                            PackMultiModalInputs,
                                            sample_crop_box)

H, W = 60, 80
MODS = ('rgb', 'depth', 'semseg', 'normal')


def _coordinate_sample():
    """Every modality encodes the pixel coordinates it came from."""
    y, x = np.mgrid[:H, :W]
    rgb = np.stack([x * 3, y * 4, np.zeros_like(x)], -1).astype(np.uint8)
    depth = (x + 1000 * y).astype(np.float32)
    semseg = (x // 10 + 8 * (y // 10)).astype(np.uint8)
    normal = np.stack([x * 3, y * 4, np.full_like(x, 7)], -1).astype(np.uint8)
    return dict(
        rgb=rgb,
        depth=depth,
        semseg=semseg,
        normal=normal,
        modalities=MODS,
        ori_shape=(H, W),
        img_shape=(H, W))


def _coords(results):
    """Decoded ``(x, y)`` maps of each modality."""
    depth = results['depth']
    return dict(
        rgb=(results['rgb'][..., 0] / 3, results['rgb'][..., 1] / 4),
        depth=(depth % 1000, depth // 1000),
        normal=(results['normal'][..., 0] / 3, results['normal'][..., 1] / 4))


def test_sample_crop_box_ranges():
    np.random.seed(0)
    for _ in range(200):
        top, left, h, w = sample_crop_box(H, W)
        assert 0 <= top and top + h <= H and 0 <= left and left + w <= W
        assert 0.2 * H * W * 0.9 <= h * w <= H * W
        assert 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1
    # no draw fits a 1 x 100 image: central fallback with the ratio bound
    assert sample_crop_box(1, 100, scale=(0.9, 1.0)) == (0, 49, 1, 1)


def test_crop_is_aligned_across_modalities():
    np.random.seed(1)
    nearest = MultiModalRandomResizedCrop(
        size=(24, 32),
        interpolations=dict(rgb='nearest', depth='nearest', normal='nearest'))
    for _ in range(20):
        out = nearest(_coordinate_sample())
        coords = _coords(out)
        for mod in ('rgb', 'normal'):
            np.testing.assert_array_equal(coords[mod][0], coords['depth'][0])
            np.testing.assert_array_equal(coords[mod][1], coords['depth'][1])
        x, y = coords['depth']
        np.testing.assert_array_equal(out['semseg'], x // 10 + 8 * (y // 10))
        x1, y1, x2, y2 = out['crop_bbox']
        assert x.min() >= x1 and x.max() < x2
        assert y.min() >= y1 and y.max() < y2
        assert out['rgb'].shape == (24, 32, 3)
        assert out['depth'].shape == out['semseg'].shape == (24, 32)
        assert out['img_shape'] == (24, 32)

    # default filters (rgb bicubic): same geometry up to the half-pixel
    # offset between nearest and interpolating filters
    crop = MultiModalRandomResizedCrop(size=(24, 32))
    for _ in range(20):
        out = crop(_coordinate_sample())
        coords = _coords(out)
        inner = (slice(2, -2), slice(2, -2))
        for axis in range(2):
            diff = coords['rgb'][axis][inner] - coords['depth'][axis][inner]
            assert np.abs(diff).max() <= 1.0


def test_flip_is_consistent():
    flip = MultiModalRandomFlip(prob=1.0)
    sample = _coordinate_sample()
    out = flip(_coordinate_sample())
    assert out['flip'] is True and out['flip_direction'] == 'horizontal'
    for mod in ('rgb', 'depth', 'semseg'):
        np.testing.assert_array_equal(out[mod], sample[mod][:, ::-1])
    # normals: mirrored, x component negated (255 - code), y/z kept
    mirrored = sample['normal'][:, ::-1]
    np.testing.assert_array_equal(out['normal'][..., 0],
                                  255 - mirrored[..., 0])
    np.testing.assert_array_equal(out['normal'][..., 1:], mirrored[..., 1:])
    unit = np.array([[[0.6, 0.0, -0.8]]], np.float32)
    flipped = flip(dict(normal=encode_normals(unit), modalities=('normal', )))
    packed = PackMultiModalInputs()(flipped)['inputs']['normal']
    np.testing.assert_allclose(
        packed[:, 0, 0].numpy(), [-0.6, 0, -0.8], atol=1e-2)

    kept = MultiModalRandomFlip(prob=0.0)(_coordinate_sample())
    assert kept['flip'] is False and kept['flip_direction'] is None
    np.testing.assert_array_equal(kept['rgb'], sample['rgb'])

    np.random.seed(2)
    decisions = []
    for _ in range(40):
        out = MultiModalRandomFlip()(_coordinate_sample())
        coords = _coords(out)
        np.testing.assert_array_equal(coords['rgb'][0], coords['depth'][0])
        decisions.append(out['flip'])
        assert (out['depth'][0, 0] == W - 1) == out['flip']
    assert 0 < sum(decisions) < 40


def test_semseg_labels_survive_resize():
    rng = np.random.default_rng(0)
    blocks = rng.choice([0, 3, 7, 9], size=(6, 8)).astype(np.uint8)
    semseg = np.kron(blocks, np.ones((10, 10), np.uint8))
    np.random.seed(3)
    for size in (16, 128):  # down- and up-sampling
        crop = MultiModalRandomResizedCrop(size=size)
        out = crop(dict(semseg=semseg, modalities=('semseg', )))
        assert out['semseg'].dtype == np.uint8
        assert set(np.unique(out['semseg'])) <= {0, 3, 7, 9}
    with pytest.raises(ValueError, match="resized with 'nearest'"):
        MultiModalRandomResizedCrop(interpolations=dict(semseg='bilinear'))


def test_downsample_labels_matches_official():
    semseg = np.random.default_rng(1).integers(0, 133,
                                               (224, 224)).astype(np.uint8)
    out = DownsampleLabels()(dict(semseg=semseg, modalities=('semseg', )))
    # official: PIL resize of the 'P' map to 56x56 with the default filter
    official = np.asarray(Image.fromarray(semseg, mode='P').resize((56, 56)))
    np.testing.assert_array_equal(out['semseg'], official)
    np.testing.assert_array_equal(out['semseg'], semseg[2::4, 2::4])
    # samples without semseg are left alone
    rgb_only = dict(rgb=np.zeros((8, 8, 3), np.uint8), modalities=('rgb', ))
    assert DownsampleLabels()(rgb_only)['rgb'].shape == (8, 8, 3)
    with pytest.raises(ValueError, match='not divisible'):
        DownsampleLabels()(
            dict(semseg=np.zeros((30, 32), np.uint8), modalities=('semseg', )))


def test_size_mismatch_is_an_error():
    sample = dict(
        rgb=np.zeros((32, 32, 3), np.uint8),
        depth=np.zeros((30, 32), np.float32),
        modalities=('rgb', 'depth'))
    with pytest.raises(ValueError) as err:
        MultiModalRandomResizedCrop(size=16)(sample)
    assert 'rgb (32, 32, 3)' in str(err.value)
    assert 'depth (30, 32)' in str(err.value)
    with pytest.raises(KeyError, match="no 'modalities'"):
        MultiModalRandomFlip()(dict(rgb=np.zeros((4, 4, 3), np.uint8)))


def test_size_mismatch_names_the_files(tmp_path):
    """A depth file at half the rgb's size: the error names both files."""
    paths = _write_sample(str(tmp_path))
    Image.fromarray(np.zeros((6, 8), np.uint16)).save(paths['depth'])
    sample = LoadMultiModalImages(('rgb', 'depth'))(
        dict(img_path=dict(rgb=paths['rgb'], depth=paths['depth'])))
    with pytest.raises(ValueError) as err:
        MultiModalRandomResizedCrop(size=8)(sample)
    message = str(err.value)
    assert 'rgb (12, 16, 3), depth (6, 8)' in message
    assert repr(paths['rgb']) in message and repr(paths['depth']) in message


def _write_sample(root, depth=None):
    paths = dict(
        rgb=osp.join(root, 'a.jpg'),
        depth=osp.join(root, 'a_depth.png'),
        semseg=osp.join(root, 'a_semseg.png'))
    Image.fromarray(np.full((12, 16, 3), 90, np.uint8)).save(paths['rgb'])
    if depth is None:
        depth = np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) * 300
    Image.fromarray(depth).save(paths['depth'])
    palette_image(np.full((12, 16), 4, np.uint8)).save(paths['semseg'])
    return paths


def test_load_and_pack(tmp_path):
    paths = _write_sample(str(tmp_path))
    loaded = LoadMultiModalImages()(dict(img_path=paths, gt_label=2))
    assert loaded['modalities'] == ('rgb', 'depth', 'semseg')
    assert loaded['ori_shape'] == (12, 16)
    assert loaded['rgb'].dtype == np.uint8 and loaded['rgb'].shape == (12, 16,
                                                                       3)
    raw = np.arange(12 * 16).reshape(12, 16) * 300
    np.testing.assert_allclose(loaded['depth'], raw / 2**16)
    metres = LoadMultiModalImages(depth_scale=128 / 2**16)(
        dict(img_path=paths))['depth']
    np.testing.assert_allclose(metres, raw / 2**16 * 128, rtol=1e-6)
    assert (loaded['semseg'] == 4).all()

    np.random.seed(0)
    results = MultiModalRandomResizedCrop(size=8)(loaded)
    results = MultiModalRandomFlip()(results)
    results = DownsampleLabels()(results)
    packed = PackMultiModalInputs(num_classes=5)(results)
    inputs = packed['inputs']
    assert inputs['rgb'].dtype == torch.uint8
    assert inputs['rgb'].shape == (3, 8, 8)
    assert inputs['depth'].dtype == torch.float32
    assert inputs['depth'].shape == (1, 8, 8)
    assert inputs['semseg'].dtype == torch.int64
    assert inputs['semseg'].shape == (2, 2)
    meta = packed['data_samples'].metainfo
    assert meta['img_path'] == paths and meta['gt_label'] == 2
    assert meta['ori_shape'] == (12, 16) and meta['img_shape'] == (8, 8)
    assert {'crop_bbox', 'flip', 'flip_direction'} <= set(meta)

    batch = pseudo_collate([packed, packed])
    assert len(batch['inputs']['rgb']) == 2

    with pytest.raises(ValueError, match='a_semseg.png') as err:
        PackMultiModalInputs(num_classes=4)(results)
    assert '[4]' in str(err.value)
    with pytest.raises(KeyError, match='normal'):
        PackMultiModalInputs(modalities=('rgb', 'normal'))(results)


def test_load_errors_name_the_file(tmp_path):
    paths = _write_sample(str(tmp_path))
    broken = dict(paths, rgb=str(tmp_path / 'broken.jpg'))
    (tmp_path / 'broken.jpg').write_bytes(b'\xff\xd8 not really a jpeg')
    with pytest.raises(OSError, match='broken.jpg'):
        LoadMultiModalImages()(dict(img_path=broken))

    truncated = tmp_path / 'truncated.png'
    truncated.write_bytes(open(paths['depth'], 'rb').read()[:60])
    with pytest.raises(OSError, match='truncated.png'):
        LoadMultiModalImages()(
            dict(img_path=dict(paths, depth=str(truncated))))

    missing = dict(paths, semseg=str(tmp_path / 'gone.png'))
    with pytest.raises(FileNotFoundError, match='gone.png'):
        LoadMultiModalImages()(dict(img_path=missing))

    rgb_semseg = dict(paths, semseg=paths['rgb'])
    with pytest.raises(ValueError, match="a.jpg' has PIL mode 'RGB'"):
        LoadMultiModalImages()(dict(img_path=rgb_semseg))

    with pytest.raises(KeyError, match='semseg'):
        LoadMultiModalImages()(dict(img_path=dict(rgb=paths['rgb'])))

    skipper = LoadMultiModalImages(on_error='skip')
    assert skipper(dict(img_path=broken)) is None
    assert skipper(dict(img_path=missing)) is None
    assert skipper.num_skipped == 2
    assert skipper(dict(img_path=paths)) is not None


def test_non_finite_depth_is_an_error(tmp_path):
    depth = np.ones((12, 16), np.float32)
    depth[3, 4] = np.nan
    depth[5, 6] = np.inf
    path = str(tmp_path / 'nan_depth.tif')
    Image.fromarray(depth).save(path)
    with pytest.raises(ValueError, match='nan_depth.tif') as err:
        LoadMultiModalImages(modalities=('depth', ))(
            dict(img_path=dict(depth=path)))
    assert '2 non-finite' in str(err.value)


@pytest.mark.skipif(
    not features.check('jpg_2000'),
    reason='this Pillow build has no OpenJPEG (JPEG 2000) support')
def test_jpeg2000_depth(tmp_path):
    depth = (np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) * 331)
    path = str(tmp_path / 'depth.jp2')
    Image.fromarray(depth).save(path)  # lossless (reversible) by default
    loaded = LoadMultiModalImages(modalities=('depth', ))(
        dict(img_path=dict(depth=path)))
    np.testing.assert_allclose(loaded['depth'], depth / 2**16)


def test_mask_valid_optional_and_mmseg_style_samples(tmp_path):
    paths = _write_sample(str(tmp_path))
    valid = np.full((12, 16), 255, np.uint8)
    valid[:, :3] = 0
    paths['mask_valid'] = str(tmp_path / 'a_valid.png')
    Image.fromarray(valid).save(paths['mask_valid'])
    load = LoadMultiModalImages(('rgb', 'depth'),
                                optional_modalities=('mask_valid', ))
    sample = load(dict(img_path=dict(paths)))
    assert sample['modalities'] == ('rgb', 'depth', 'mask_valid')
    assert sample['mask_valid'].dtype == bool
    assert not sample['mask_valid'][:, :3].any()
    assert sample['mask_valid'][:, 3:].all()
    # aligned geometry keeps the mask a bool map
    out = MultiModalRandomResizedCrop(size=8, scale=(1., 1.),
                                      ratio=(4 / 3, 4 / 3))(sample)
    assert out['mask_valid'].dtype == bool and out['mask_valid'].shape == (
        8, 8)
    # without the file the optional modality is simply not loaded
    del paths['mask_valid']
    assert load(dict(img_path=dict(paths)))['modalities'] == ('rgb', 'depth')
    # values other than 0 / 255 are an error naming the file
    valid[0, 5] = 7
    bad = str(tmp_path / 'bad_valid.png')
    Image.fromarray(valid).save(bad)
    with pytest.raises(ValueError, match=r"bad_valid.png.*\[7\]"):
        load(dict(img_path=dict(paths, mask_valid=bad)))
    # an mmseg dataset's sample (img_path str, seg_map_path)
    mmseg_sample = LoadMultiModalImages(('rgb', 'semseg'))(
        dict(img_path=paths['rgb'], seg_map_path=paths['semseg']))
    assert mmseg_sample['semseg'].shape == (12, 16)
    assert mmseg_sample['img_path'] == dict(
        rgb=paths['rgb'], semseg=paths['semseg'])
