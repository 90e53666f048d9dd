# Copyright (c) mmmultimae contributors. All rights reserved.
"""LoadImageFromFileStrict: complete decoding, conversions to RGB."""
import io

import numpy as np
import pytest
from PIL import Image

from mmmultimae.datasets.transforms import (LoadImageFromFileStrict,
                                            load_rgb_image)
from mmmultimae.registry import TRANSFORMS

RED = (200, 40, 40)


def _write(path, mode, colour=RED, fmt=None):
    img = Image.new('RGB', (40, 32), colour)
    if mode == 'P':
        img = img.convert('P', palette=Image.ADAPTIVE)
    elif mode != 'RGB':
        img = img.convert(mode)
    img.save(path, format=fmt)
    return str(path)


def test_rgb_bgr_and_shapes(tmp_path):
    path = _write(tmp_path / 'a.png', 'RGB')
    results = TRANSFORMS.build(dict(type='LoadImageFromFileStrict'))(
        dict(img_path=path))
    assert results['img'].dtype == np.uint8
    assert results['img'].shape == (32, 40, 3)
    assert tuple(results['img'][0, 0]) == RED[::-1]  # BGR, as mmcv
    assert results['img_shape'] == results['ori_shape'] == (32, 40)
    rgb = LoadImageFromFileStrict(channel_order='rgb', to_float32=True)(
        dict(img_path=path))['img']
    assert rgb.dtype == np.float32 and tuple(rgb[0, 0]) == RED


@pytest.mark.parametrize('mode,ext', [('L', 'jpg'), ('1', 'png'),
                                      ('P', 'png'), ('CMYK', 'jpg'),
                                      ('RGBA', 'png'), ('LA', 'png')])
def test_converted_to_rgb(tmp_path, mode, ext):
    """Grey-scale, bilevel, palette, CMYK and alpha files become
    3-channel RGB (PIL's conversions; alpha is dropped)."""
    path = _write(tmp_path / f'a.{ext}', mode)
    img = load_rgb_image(path)
    assert img.shape == (32, 40, 3) and img.dtype == np.uint8
    with Image.open(path) as src:
        assert src.mode == mode
        expected = np.array(src.convert('RGB'))
    assert np.array_equal(img, expected)
    if mode in ('L', '1', 'LA'):
        assert (img[..., 0] == img[..., 1]).all()
    if mode in ('CMYK', 'RGBA', 'P'):
        assert np.abs(img.astype(int) - RED).max() <= 3


def test_corrupt_files_are_errors_naming_them(tmp_path):
    buf = io.BytesIO()
    Image.new('RGB', (64, 64), RED).save(buf, 'JPEG')
    data = buf.getvalue()
    truncated = tmp_path / 'truncated.jpg'
    truncated.write_bytes(data[:len(data) // 2])
    garbage = tmp_path / 'garbage.jpg'
    garbage.write_bytes(b'not an image')
    for path in (truncated, garbage):
        with pytest.raises(OSError, match=f"cannot decode image '{path}'"):
            LoadImageFromFileStrict()(dict(img_path=str(path)))
    missing = str(tmp_path / 'missing.jpg')
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        load_rgb_image(missing)


def test_exif_orientation(tmp_path):
    """Orientation 6 (rotate 90 clockwise to display): applied as mmcv's
    color_type='color', ignored as 'color_ignore_orientation' and
    torchvision's loader."""
    path = str(tmp_path / 'rotated.jpg')
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new('RGB', (40, 32), RED).save(path, exif=exif)
    applied = LoadImageFromFileStrict()(dict(img_path=path))
    ignored = LoadImageFromFileStrict(ignore_orientation=True)(
        dict(img_path=path))
    assert applied['img'].shape == (40, 32, 3)
    assert ignored['img'].shape == (32, 40, 3)


def test_high_bit_depth_is_an_error(tmp_path):
    path = str(tmp_path / 'depth.png')
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(path)
    with pytest.raises(ValueError, match="mode 'I;16'"):
        load_rgb_image(path)
    with pytest.raises(KeyError, match='img_path'):
        LoadImageFromFileStrict()(dict(img_path=None))
