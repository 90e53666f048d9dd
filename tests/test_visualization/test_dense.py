# Copyright (c) mmmultimae contributors. All rights reserved.
"""Dense-transfer drawing: palettes, regression maps of any channel count,
rows of inputs, ground truth and predictions."""
import numpy as np
import pytest

from mmmultimae.visualization import (colorize_dense, colorize_depth,
                                      colorize_semseg, dataset_palette,
                                      dense_range, input_tiles, make_palette,
                                      prediction_row, target_tiles)
from mmmultimae.visualization.dense import sample_stem


def test_dataset_palette_prefers_the_metainfo_palette():
    palette = [[1, 2, 3], [4, 5, 6]]
    out = dataset_palette(dict(classes=('a', 'b'), palette=palette))
    assert out.dtype == np.uint8 and out.tolist() == palette
    assert np.array_equal(dataset_palette(dict(classes=('a', 'b', 'c'))),
                          make_palette(3))
    with pytest.raises(KeyError, match=r"'palette' or 'classes'.*\['foo'\]"):
        dataset_palette(dict(foo=1))
    with pytest.raises(ValueError, match='2 colours for 3 classes'):
        dataset_palette(dict(classes=('a', 'b', 'c'), palette=palette))
    with pytest.raises(ValueError, match=r'\(K, 3\)'):
        dataset_palette(dict(palette=[[1, 2]]))


def test_sample_stem_reads_the_rgb_path():
    assert sample_stem(dict(img_path='/a/b/x_1.jpg'), 'd') == 'x_1'
    paths = dict(depth='/d/y.png', rgb='/r/z.jpg')
    assert sample_stem(dict(img_path=paths), 'd') == 'z'
    assert sample_stem(dict(img_path=dict(depth='/d/y.png')), 'd') == 'y'
    assert sample_stem({}, 'fallback') == 'fallback'


def test_dense_range_ignores_invalid_pixels():
    values = np.arange(100, dtype=np.float32).reshape(1, 10, 10)
    valid = np.zeros((1, 10, 10), bool)
    valid[0, :5] = True  # values 0 .. 49
    low, high = dense_range(values, valid)
    assert low == pytest.approx(np.percentile(np.arange(50), 2))
    assert high == pytest.approx(np.percentile(np.arange(50), 98))


def test_colorize_dense_one_three_and_other_channel_counts():
    rng = np.random.default_rng(0)
    one = rng.uniform(1, 5, (1, 4, 6))
    valid = np.ones((1, 4, 6), bool)
    valid[0, 0, 0] = False
    tiles = colorize_dense(one, 1., 5., valid)
    assert len(tiles) == 1 and tiles[0].shape == (4, 6, 3)
    expected = colorize_depth(one[0], 1., 5.)
    assert np.array_equal(tiles[0][1:], expected[1:])
    assert tiles[0][0, 0].tolist() == [0, 0, 0]  # invalid: black

    # three channels (surface normals): an RGB image over the range
    normals = np.stack([np.full((2, 2), -1.), np.zeros((2, 2)),
                        np.ones((2, 2))])
    image, = colorize_dense(normals, -1., 1.)
    assert image[0, 0].tolist() == [0, 128, 255]

    two = rng.uniform(0, 1, (2, 3, 3))
    tiles = colorize_dense(two, 0., 1.)
    assert len(tiles) == 2
    assert np.array_equal(tiles[1], colorize_depth(two[1], 0., 1.))
    with pytest.raises(ValueError, match=r'\(C, H, W\)'):
        colorize_dense(one[0], 0., 1.)


def test_input_tiles_by_kind():
    rgb = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2)
    labels, tiles = input_tiles('rgb', rgb)
    assert labels == ['rgb'] and np.array_equal(tiles[0],
                                                rgb.transpose(1, 2, 0))
    depth = np.linspace(1, 9, 16, dtype=np.float32).reshape(1, 4, 4)
    labels, tiles = input_tiles('depth', depth)
    assert labels == ['depth']
    expected = colorize_depth(depth[0], *dense_range(depth))
    assert np.array_equal(tiles[0], expected)
    semseg = np.array([[0, 1], [2, 7]])
    palette = make_palette(3)  # does not cover id 7: a generated one
    labels, tiles = input_tiles('semseg', semseg, palette)
    assert np.array_equal(tiles[0], colorize_semseg(semseg, make_palette(8)))
    labels, tiles = input_tiles('normal', np.zeros((2, 3, 3), np.float32))
    assert labels == ['normal [0]', 'normal [1]'] and len(tiles) == 2


def test_target_tiles_share_the_ground_truth_range():
    gt = np.array([[[1., 2.], [3., 100.]]])
    valid = np.array([[[True, True], [True, False]]])
    pred = np.array([[[1., 2.], [3., 4.]]])
    labels, tiles = target_tiles({'a': pred, 'b': pred * 2}, gt, valid)
    assert labels == ['ground truth', 'a', 'b']
    low, high = dense_range(gt, valid)
    assert high < 4  # the invalid 100 is not in the range
    assert np.array_equal(tiles[1], colorize_depth(pred[0], low, high))
    assert tiles[0][1, 1].tolist() == [0, 0, 0]
    assert tiles[1][1, 1].tolist() != [0, 0, 0]  # predictions: no mask

    palette = make_palette(4)
    seg = np.array([[[0, 3], [255, 1]]])
    labels, tiles = target_tiles({'prediction': seg}, seg, palette=palette)
    assert labels == ['ground truth', 'prediction']
    assert np.array_equal(tiles[1], colorize_semseg(seg[0], palette))
    with pytest.raises(ValueError, match='palette'):
        target_tiles({'prediction': seg}, seg)
    with pytest.raises(ValueError, match='same kind'):
        target_tiles({'prediction': pred}, seg, palette=palette)
    with pytest.raises(ValueError, match='same kind'):
        target_tiles({'prediction': np.zeros((3, 2, 2))}, gt)


def test_prediction_row_columns():
    rgb = np.zeros((3, 4, 4), np.uint8)
    depth = np.ones((1, 4, 4), np.float32)
    gt = np.zeros((2, 4, 4), np.float32)
    labels, tiles = prediction_row(
        dict(rgb=rgb, depth=depth), {'prediction': gt + 1}, gt)
    assert labels == [
        'rgb', 'depth', 'ground truth [0]', 'ground truth [1]',
        'prediction [0]', 'prediction [1]'
    ]
    assert all(t.shape == (4, 4, 3) and t.dtype == np.uint8 for t in tiles)
