# Copyright (c) mmmultimae contributors. All rights reserved.
"""The classification configs read every image as RGB the way the official
torchvision ImageFolder does (``Image.convert('RGB')``): grey-scale, CMYK,
palette and RGBA files give 3-channel images."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

from mmmultimae.registry import TRANSFORMS
from mmmultimae.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASES = [
    osp.join(ROOT, 'configs', '_base_', 'datasets', name)
    for name in ('in1k_cls.py', 'synthetic_scenes_cls.py')
]


def write(path: str, mode: str) -> str:
    """A 40 x 56 image of ``mode`` (gradients, so channels differ)."""
    y, x = np.mgrid[0:40, 0:56]
    rgb = np.stack([x * 4, y * 6, (x + y) * 2], -1).astype(np.uint8)
    image = Image.fromarray(rgb)
    if mode == 'CMYK':
        image = image.convert('CMYK')
        image.save(path, quality=95)  # a CMYK JPEG, as in ImageNet
    else:
        image.convert(mode).save(path)
    return path


@pytest.mark.parametrize('base', BASES, ids=osp.basename)
@pytest.mark.parametrize('mode, ext', [('L', 'png'), ('CMYK', 'jpg'),
                                       ('P', 'png'), ('RGBA', 'png'),
                                       ('RGB', 'jpg')])
def test_every_image_mode_becomes_rgb(base, mode, ext, tmp_path):
    register_all_modules(init_default_scope=False)
    path = write(str(tmp_path / f'image.{ext}'), mode)
    assert Image.open(path).mode == mode
    cfg = Config.fromfile(base)
    expected = np.asarray(Image.open(path).convert('RGB'))
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        load = TRANSFORMS.build(cfg.load)
        results = load(dict(img_path=path))
        # BGR, as mmcv loads (the data preprocessor's to_rgb flips it)
        assert results['img'].shape == (40, 56, 3)
        np.testing.assert_array_equal(results['img'][..., ::-1], expected)
        if mode == 'L':  # grey-scale: the value replicated
            assert (results['img'] == results['img'][..., :1]).all()
        # the whole test pipeline packs a 3-channel image
        packed = results
        for t in cfg.test_pipeline[1:]:
            packed = TRANSFORMS.build(t)(packed)
        assert packed['inputs'].shape[0] == 3
