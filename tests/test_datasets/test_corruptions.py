# Copyright (c) mmmultimae contributors. All rights reserved.
"""ImageNet-C corruptions on the fly (ImageCorruption, corrupt_image)."""
import numpy as np
import pytest
from mmcv.transforms import Compose
from PIL import Image

from mmmultimae.datasets.transforms import (ALL_CORRUPTIONS,
                                            COMMON_CORRUPTIONS,
                                            DEFAULT_META_KEYS,
                                            EXTRA_CORRUPTIONS, ImageCorruption,
                                            LoadMultiModalImages,
                                            PackMultiModalInputs,
                                            corrupt_image)
from mmmultimae.registry import TRANSFORMS


def _image(height: int = 48, width: int = 64) -> np.ndarray:
    """A smooth gradient with a flat rectangle (RGB uint8)."""
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([xx * 3 + 30, yy * 4 + 20, 160 - xx - yy], -1)
    img = img.clip(0, 255).astype(np.uint8)
    img[16:32, 20:44] = (220, 200, 60)
    return img


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).mean())


def test_corruption_lists():
    assert len(COMMON_CORRUPTIONS) == 15 and len(EXTRA_CORRUPTIONS) == 4
    assert ALL_CORRUPTIONS == COMMON_CORRUPTIONS + EXTRA_CORRUPTIONS


@pytest.mark.parametrize('corruption', ALL_CORRUPTIONS)
def test_each_corruption_changes_the_image(corruption):
    """All 19 run on a non-square image, keep its shape and dtype and
    change it (a mean absolute difference of more than 1 grey level at
    severity 3; measured: 1.3 for spatter to 92 for frost)."""
    img = _image(40, 56)
    out = corrupt_image(img, corruption, 3, seed=0)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert _mad(out, img) > 1.0
    assert np.array_equal(img, _image(40, 56))  # input untouched


@pytest.mark.parametrize('corruption', [
    'gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur',
    'motion_blur', 'brightness', 'contrast', 'jpeg_compression'
])
def test_severity_is_monotone(corruption):
    img = _image()
    diffs = [
        _mad(corrupt_image(img, corruption, s, seed=0), img)
        for s in range(1, 6)
    ]
    assert all(np.diff(diffs) > 0), diffs


def test_deterministic_under_a_seed():
    img = _image()
    # every randomised family, including the two with their own seed
    for corruption in ('gaussian_noise', 'impulse_noise', 'glass_blur',
                       'frost', 'snow', 'elastic_transform'):
        a = corrupt_image(img, corruption, 4, seed=7)
        b = corrupt_image(img, corruption, 4, seed=7)
        c = corrupt_image(img, corruption, 4, seed=8)
        assert np.array_equal(a, b), corruption
        assert not np.array_equal(a, c), corruption


def test_global_random_state_is_kept():
    np.random.seed(123)
    expected = np.random.rand(3)
    np.random.seed(123)
    corrupt_image(_image(), 'gaussian_noise', 2, seed=1)
    assert np.array_equal(np.random.rand(3), expected)


def test_transform_seeds_per_sample():
    transform = TRANSFORMS.build(
        dict(type='ImageCorruption', corruption='shot_noise', seed=3))
    img = _image()[..., ::-1].copy()  # BGR, as mmcv loads it
    first = transform(dict(img=img.copy(), sample_idx=5))
    again = transform(dict(img=img.copy(), sample_idx=5))
    other = transform(dict(img=img.copy(), sample_idx=6))
    assert np.array_equal(first['img'], again['img'])
    assert not np.array_equal(first['img'], other['img'])
    assert first['corruption'] == 'shot_noise' and first['severity'] == 3
    with pytest.raises(KeyError, match='sample_idx'):
        transform(dict(img=img.copy()))
    # without a seed: numpy's global state decides (mmengine seeds it)
    free = ImageCorruption('shot_noise')
    np.random.seed(0)
    a = free(dict(img=img.copy()))['img']
    np.random.seed(0)
    b = free(dict(img=img.copy()))['img']
    assert np.array_equal(a, b)


def test_bgr_images_are_corrupted_as_rgb():
    """mmcv's images are BGR; the package's coloured corruptions (frost,
    spatter) work on RGB."""
    rgb = _image()
    transform = ImageCorruption('frost', 2, seed=0)
    seed = transform._seeds(dict(sample_idx=0), 1)[0]
    out = transform(dict(img=rgb[..., ::-1].copy(), sample_idx=0))['img']
    expected = corrupt_image(rgb, 'frost', 2, seed)
    assert np.array_equal(out, expected[..., ::-1])


def test_multimodal_pipeline_corrupts_rgb_only(tmp_path):
    rgb = _image()
    depth = (np.arange(48 * 64).reshape(48, 64) * 7).astype(np.uint16)
    semseg = (np.arange(48 * 64).reshape(48, 64) % 5).astype(np.uint8)
    paths = dict(
        rgb=str(tmp_path / 'rgb.png'),
        depth=str(tmp_path / 'depth.png'),
        semseg=str(tmp_path / 'semseg.png'))
    Image.fromarray(rgb).save(paths['rgb'])
    Image.fromarray(depth).save(paths['depth'])
    Image.fromarray(semseg).save(paths['semseg'])
    meta_keys = DEFAULT_META_KEYS + ('corruption', 'severity')
    load = LoadMultiModalImages(modalities=('rgb', 'depth', 'semseg'))
    pack = PackMultiModalInputs(meta_keys=meta_keys)
    clean = Compose([load, pack])(dict(img_path=dict(paths), sample_idx=0))
    corrupted = Compose([
        load,
        TRANSFORMS.build(
            dict(type='ImageCorruption', corruption='motion_blur', seed=0)),
        pack
    ])(dict(img_path=dict(paths), sample_idx=0))
    for mod in ('depth', 'semseg'):
        assert corrupted['inputs'][mod].equal(clean['inputs'][mod]), mod
    assert not corrupted['inputs']['rgb'].equal(clean['inputs']['rgb'])
    assert corrupted['inputs']['rgb'].shape == clean['inputs']['rgb'].shape
    meta = corrupted['data_samples'].metainfo
    assert meta['corruption'] == 'motion_blur' and meta['severity'] == 3


def test_bad_arguments():
    with pytest.raises(ValueError, match='unknown corruption'):
        ImageCorruption('rain')
    with pytest.raises(ValueError, match='severity'):
        ImageCorruption('fog', severity=0)
    with pytest.raises(ValueError, match='at least 32 px'):
        corrupt_image(_image(24, 40), 'fog', 1, seed=0)
    with pytest.raises(ValueError, match=r'uint8 \(H, W, 3\)'):
        corrupt_image(_image()[..., 0], 'fog', 1, seed=0)
    with pytest.raises(ValueError, match="'small.png'"):
        ImageCorruption('fog', seed=0)(
            dict(img=_image(20, 20), img_path='small.png', sample_idx=0))
    with pytest.raises(KeyError, match='no'):
        ImageCorruption('fog', keys=('rgb', ))(dict(img=_image()))
