# Copyright (c) mmmultimae contributors. All rights reserved.
"""LoadMultiModalRandomResizedCrop against LoadMultiModalImages +
MultiModalRandomResizedCrop: same boxes, flips and label / depth values,
rgb within a measured tolerance."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from mmmultimae.datasets import MultiModalImageFolder
from mmmultimae.datasets.synthetic.codecs import palette_image
from mmmultimae.datasets.transforms import (DownsampleLabels,
                                            LoadMultiModalImages,
                                            LoadMultiModalRandomResizedCrop,
                                            MultiModalRandomFlip,
                                            MultiModalRandomResizedCrop,
                                            nearest_indices, resized_crop,
                                            sample_crop_box)
from mmmultimae.utils import register_all_modules

pytest.importorskip('simplejpeg')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VIT_B = osp.join(
    ROOT, 'configs', 'multimae',
    'multimae_vit-b-p16_8xb256-amp-coslr-1600e_in1k-rgb-depth-semseg.py')


def _textured_rgb(h, w, seed):
    """Smooth gradients plus fine noise: edges a resize can get wrong."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:h, :w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (h + w)], -1)
    noise = rng.normal(0, 25, (h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _write_sample(root, h=60, w=80, seed=0, rgb_kwargs=None):
    rng = np.random.default_rng(seed)
    paths = dict(
        rgb=osp.join(root, f's{seed}.jpg'),
        depth=osp.join(root, f's{seed}_depth.png'),
        semseg=osp.join(root, f's{seed}_semseg.png'))
    Image.fromarray(_textured_rgb(h, w, seed)).save(
        paths['rgb'], **(rgb_kwargs or dict(quality=90)))
    depth = rng.integers(0, 2**16, (h, w)).astype(np.uint16)
    Image.fromarray(depth).save(paths['depth'])
    semseg = rng.integers(0, 133, (h, w)).astype(np.uint8)
    palette_image(semseg).save(paths['semseg'])
    return paths


def _two_transforms(paths, seed, size, **load_kwargs):
    np.random.seed(seed)
    sample = LoadMultiModalImages(**load_kwargs)(dict(img_path=dict(paths)))
    sample = MultiModalRandomResizedCrop(size=size)(sample)
    return MultiModalRandomFlip()(sample)


def _fused(paths, seed, size, **kwargs):
    np.random.seed(seed)
    sample = LoadMultiModalRandomResizedCrop(
        size=size, **kwargs)(dict(img_path=dict(paths)))
    return MultiModalRandomFlip()(sample)


def test_nearest_indices_are_pillows_float_choice():
    rng = np.random.default_rng(0)
    for (h, w), size in (((375, 500), (224, 224)), ((60, 80), (24, 32)),
                         ((1000, 750), (224, 224)), ((333, 500), (56, 57))):
        image = rng.random((h, w)).astype(np.float32)
        np.random.seed(1)
        for _ in range(100):
            top, left, bh, bw = sample_crop_box(h, w)
            box = (left, top, left + bw, top + bh)
            rows, cols = nearest_indices(box, size)
            np.testing.assert_array_equal(
                image[rows[:, None], cols],
                resized_crop(image, box, size, 'nearest'))


def test_same_box_flip_and_labels_as_two_transforms(tmp_path):
    """Depth and semseg exactly equal, rgb close. Measured on these noisy
    JPEGs: max |diff| 1 more than 3 output pixels inside the crop, 5 at its
    edges (only the fused path clamps the filter to the crop), mean 0.15
    of 255."""
    size = (24, 32)
    interior, mean_diffs = [], []
    for seed in range(24):
        paths = _write_sample(str(tmp_path), seed=seed % 4)
        ref = _two_transforms(paths, seed, size)
        out = _fused(paths, seed, size)
        for key in ('crop_bbox', 'flip', 'flip_direction', 'modalities',
                    'ori_shape', 'img_shape'):
            assert out[key] == ref[key], key
        for mod in ('depth', 'semseg'):
            assert out[mod].dtype == ref[mod].dtype
            np.testing.assert_array_equal(out[mod], ref[mod])
        assert out['rgb'].dtype == np.uint8
        assert out['rgb'].shape == ref['rgb'].shape == (*size, 3)
        diff = np.abs(out['rgb'].astype(int) - ref['rgb'])
        interior.append(diff[3:-3, 3:-3].max())
        mean_diffs.append(diff.mean())
    assert max(interior) <= 2
    assert np.mean(mean_diffs) < 0.5
    # the fused path is not the two-transform path in disguise: the crop
    # boxes differ between seeds
    assert len({_fused(paths, s, size)['crop_bbox'] for s in range(5)}) > 1


def test_vit_b_pipeline_matches_two_transforms(tmp_path):
    """The ViT-B config's train pipeline through MultiModalImageFolder
    equals the two-transform pipeline on depth and semseg."""
    register_all_modules()
    root = tmp_path / 'train'
    for i in range(3):
        folder = {m: root / m / 'cls' for m in ('rgb', 'depth', 'semseg')}
        for f in folder.values():
            f.mkdir(parents=True, exist_ok=True)
        paths = _write_sample(str(tmp_path), h=40, w=56, seed=i)
        for mod, path in paths.items():
            ext = osp.splitext(path)[1]
            (folder[mod] / f'img{i}{ext}').write_bytes(
                open(path, 'rb').read())
    pipeline = Config.fromfile(VIT_B).train_pipeline
    assert pipeline[0]['type'] == 'LoadMultiModalRandomResizedCrop'
    fused_pipeline = [dict(p) for p in pipeline]
    fused_pipeline[0].update(size=16)
    load = dict(type='LoadMultiModalImages', modalities=('rgb', 'depth',
                                                         'semseg'))
    crop = dict(type='MultiModalRandomResizedCrop', size=16)
    two_pipeline = [load, crop] + [dict(p) for p in pipeline[1:]]

    def build(pipe):
        return MultiModalImageFolder(str(tmp_path), pipeline=pipe,
                                     data_prefix=dict(img_path='train'))

    fused, two = build(fused_pipeline), build(two_pipeline)
    for i in range(3):
        np.random.seed(i)
        a = fused[i]
        np.random.seed(i)
        b = two[i]
        assert a['data_samples'].metainfo == b['data_samples'].metainfo
        for mod in ('depth', 'semseg'):
            assert a['inputs'][mod].dtype == b['inputs'][mod].dtype
            assert (a['inputs'][mod] == b['inputs'][mod]).all()
        assert a['inputs']['semseg'].shape == (4, 4)
        rgb_diff = (a['inputs']['rgb'].int() - b['inputs']['rgb']).abs()
        assert rgb_diff[:, 3:-3, 3:-3].max() <= 2


def test_grayscale_progressive_and_cmyk_jpegs(tmp_path):
    size = (16, 16)
    gray = str(tmp_path / 'gray.jpg')
    Image.fromarray(_textured_rgb(40, 48, 3)[..., 0]).save(gray, quality=90)
    progressive = str(tmp_path / 'progressive.jpg')
    Image.fromarray(_textured_rgb(40, 48, 5)).save(
        progressive, quality=90, progressive=True)
    cmyk = str(tmp_path / 'cmyk.jpg')
    Image.fromarray(_textured_rgb(40, 48, 4)).convert('CMYK').save(
        cmyk, quality=90)
    for path in (gray, progressive, cmyk):
        ref = _two_transforms(dict(rgb=path), 0, size, modalities=('rgb', ))
        out = _fused(dict(rgb=path), 0, size, modalities=('rgb', ))
        assert out['crop_bbox'] == ref['crop_bbox']
        diff = np.abs(out['rgb'].astype(int) - ref['rgb'])
        assert diff[3:-3, 3:-3].max() <= 2
    # CMYK goes through Pillow: exactly the two-transform path
    assert (out['rgb'] == ref['rgb']).all()


def test_other_formats_take_the_exact_path(tmp_path):
    """PNG rgb and a float TIFF depth are decoded by Pillow and cropped as
    the two transforms do (as is the 16-bit PNG depth, by OpenCV)."""
    paths = _write_sample(str(tmp_path))
    rgb_png = str(tmp_path / 'rgb.png')
    Image.open(paths['rgb']).save(rgb_png)
    tiff = str(tmp_path / 'depth.tif')
    Image.fromarray(np.random.default_rng(0).random(
        (60, 80)).astype(np.float32)).save(tiff)
    for depth in (paths['depth'], tiff):
        sample = dict(paths, rgb=rgb_png, depth=depth)
        ref = _two_transforms(sample, 5, (24, 32))
        out = _fused(sample, 5, (24, 32))
        for mod in ('rgb', 'depth', 'semseg'):
            np.testing.assert_array_equal(out[mod], ref[mod])
    # bilinear depth: decoded in full as float, resized by Pillow
    np.random.seed(2)
    ref = LoadMultiModalImages()(dict(img_path=dict(paths)))
    ref = MultiModalRandomResizedCrop(
        size=8, interpolations=dict(depth='bilinear'))(ref)
    np.random.seed(2)
    out = LoadMultiModalRandomResizedCrop(
        size=8, interpolations=dict(depth='bilinear'))(
            dict(img_path=dict(paths)))
    np.testing.assert_array_equal(out['depth'], ref['depth'])


def test_errors_name_the_files(tmp_path):
    paths = _write_sample(str(tmp_path))
    load = LoadMultiModalRandomResizedCrop(size=8)
    truncated = str(tmp_path / 'truncated.jpg')
    with open(truncated, 'wb') as f:
        f.write(open(paths['rgb'], 'rb').read()[:600])
    with pytest.raises(OSError, match='truncated.jpg'):
        load(dict(img_path=dict(paths, rgb=truncated)))
    broken = str(tmp_path / 'broken.jpg')
    with open(broken, 'wb') as f:
        f.write(b'\xff\xd8\xff not really a jpeg')
    with pytest.raises(OSError, match='broken.jpg'):
        load(dict(img_path=dict(paths, rgb=broken)))
    with pytest.raises(FileNotFoundError, match='gone.png'):
        load(dict(img_path=dict(paths, depth=str(tmp_path / 'gone.png'))))
    small = str(tmp_path / 'small_depth.png')
    Image.fromarray(np.zeros((30, 40), np.uint16)).save(small)
    with pytest.raises(ValueError) as err:
        load(dict(img_path=dict(paths, depth=small)))
    assert 'rgb (60, 80), depth (30, 40)' in str(err.value)
    assert 'small_depth.png' in str(err.value)
    rgb_as_semseg = dict(paths, semseg=paths['rgb'])
    with pytest.raises(ValueError, match="has PIL mode 'RGB'"):
        load(dict(img_path=rgb_as_semseg))

    skipper = LoadMultiModalRandomResizedCrop(size=8, on_error='skip')
    assert skipper(dict(img_path=dict(paths, rgb=truncated))) is None
    assert skipper(dict(img_path=dict(paths, rgb=broken))) is None
    assert skipper.num_skipped == 2
    assert skipper(dict(img_path=dict(paths))) is not None


def test_downsample_labels_is_pillows_nearest():
    rng = np.random.default_rng(0)
    for factor in (1, 2, 3, 4, 5):
        for dtype in (np.uint8, np.uint16):
            labels = rng.integers(0, 300 if dtype == np.uint16 else 133,
                                  (60, 60)).astype(dtype)
            out = DownsampleLabels(factor=factor)(
                dict(semseg=labels, modalities=('semseg', )))['semseg']
            pil = np.asarray(
                Image.fromarray(labels).resize((60 // factor, 60 // factor),
                                               Image.NEAREST))
            np.testing.assert_array_equal(out, pil)
            assert out.flags.c_contiguous


def test_eval_pipeline_makes_the_fused_crop_central(tmp_path):
    from mmmultimae.apis.reconstruction import eval_pipeline
    pipeline = eval_pipeline(Config.fromfile(VIT_B).train_pipeline)
    assert [t['type'] for t in pipeline][:2] == [
        'LoadMultiModalRandomResizedCrop', 'DownsampleLabels'
    ]
    assert pipeline[0]['scale'] == (1., 1.)
    assert pipeline[0]['ratio'] == (1., 1.)
    paths = _write_sample(str(tmp_path))
    crop = dict(pipeline[0], size=8)
    crop.pop('type')
    out = LoadMultiModalRandomResizedCrop(**crop)(dict(img_path=paths))
    assert out['crop_bbox'] == (10, 0, 70, 60)  # the central square


def test_16_bit_label_maps(tmp_path):
    """Label PNGs of more than 256 classes keep their ids."""
    labels = np.random.default_rng(0).integers(0, 1000,
                                               (60, 80)).astype(np.uint16)
    path = str(tmp_path / 'labels.png')
    Image.fromarray(labels).save(path)
    out = _fused(dict(semseg=path), 3, (24, 32), modalities=('semseg', ))
    expected = Image.fromarray(labels).resize((32, 24),
                                              Image.NEAREST,
                                              box=out['crop_bbox'])
    if out['flip']:
        expected = expected.transpose(Image.FLIP_LEFT_RIGHT)
    assert out['semseg'].dtype == np.uint16
    np.testing.assert_array_equal(out['semseg'], np.asarray(expected))


def test_synthetic_scenes_refuse_the_loader():
    from mmmultimae.datasets import SyntheticScenes
    with pytest.raises(ValueError, match='remove LoadMultiModalRandomRes'):
        SyntheticScenes(
            num_scenes=2,
            pipeline=[dict(type='LoadMultiModalRandomResizedCrop')])
