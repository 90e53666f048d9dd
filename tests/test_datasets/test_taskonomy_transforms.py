# Copyright (c) mmmultimae contributors. All rights reserved.
"""LoadTaskonomyTasks: official per-task decoding and the valid mask."""
import os

import numpy as np
import pytest
import torch
from official_fixtures import load_transfer_fixture
from PIL import Image
from taskonomy_data import task_path, write_view

from mmmultimae.datasets.taskonomy import TASKONOMY_TRANSFER_TASKS
from mmmultimae.datasets.transforms.taskonomy import (
    TASKONOMY_TASK_PARAMETERS, LoadTaskonomyTasks, gaussian_blur_3x3,
    make_taskonomy_valid_mask)
from mmmultimae.registry import TRANSFORMS

VIEW = ('darden', 21, 1)


@pytest.fixture(scope='module')
def recording():
    return load_transfer_fixture()['taskonomy_transforms']


def test_task_parameters_match_the_official_recording(recording):
    recorded = recording['outputs']['task_parameters']
    assert set(recorded) == set(TASKONOMY_TASK_PARAMETERS)
    for task, params in recorded.items():
        ours = TASKONOMY_TASK_PARAMETERS[task]
        assert set(ours) == set(params), task
        for key, value in params.items():
            if isinstance(value, (tuple, list)):
                assert tuple(ours[key]) == pytest.approx(tuple(value)), task
            else:
                assert ours[key] == value, (task, key)


def test_valid_mask_matches_the_official_recording(recording):
    inputs = recording['inputs']['make_valid_mask_inputs']
    outputs = recording['outputs']['make_valid_mask']
    pool = recording['inputs']['max_pool_size']
    assert set(inputs) == set(outputs) and inputs
    for name, mask in inputs.items():
        expected = outputs[name]
        ours = make_taskonomy_valid_mask(mask, pool)
        assert ours.dtype == torch.bool and ours.shape == expected.shape
        assert torch.equal(ours, expected), name
        # numpy bool masks give the same answer
        ours_np = make_taskonomy_valid_mask(mask.numpy() == 1, pool)
        assert isinstance(ours_np, np.ndarray)
        np.testing.assert_array_equal(ours_np, expected.numpy())
        # and so do 2-D masks
        flat = mask.reshape(-1, *mask.shape[-2:])[0]
        np.testing.assert_array_equal(
            make_taskonomy_valid_mask(flat.numpy() == 1, pool),
            expected.reshape(-1, *mask.shape[-2:])[0].numpy())
    with pytest.raises(ValueError, match='smaller than one 4x4 block'):
        make_taskonomy_valid_mask(np.ones((3, 8), bool))


def test_gaussian_blur_equals_separable_reflect_kernel():
    rng = np.random.default_rng(0)
    image = rng.random((5, 7)).astype(np.float32)
    pdf = np.exp(-0.5 * np.array([-1.0, 0.0, 1.0])**2)
    kernel = pdf / pdf.sum()
    padded = np.pad(image.astype(np.float64), 1, mode='reflect')
    rows = sum(kernel[k] * padded[:, k:k + 7] for k in range(3))
    expected = sum(kernel[k] * rows[k:k + 5] for k in range(3))
    np.testing.assert_allclose(gaussian_blur_3x3(image), expected, atol=1e-6)


def test_load_taskonomy_tasks_decodes_each_task(tmp_path):
    root = str(tmp_path)
    raw = write_view(root, *VIEW)
    raw['depth_zbuffer'][0, :3] = [4000, 9000, 65535]
    raw['edge_texture'][0, :2] = [6553, 30000]
    for task in ('depth_zbuffer', 'edge_texture'):
        Image.fromarray(raw[task]).save(task_path(root, task, *VIEW))
    tasks = TASKONOMY_TRANSFER_TASKS + ('mask_valid', )
    paths = {t: task_path(root, t, *VIEW) for t in TASKONOMY_TRANSFER_TASKS}
    transform = TRANSFORMS.build(dict(type='LoadTaskonomyTasks', tasks=tasks))
    out = transform(dict(img_path=paths))
    assert out['modalities'] == tasks
    assert out['img_shape'] == out['ori_shape'] == (8, 8)
    np.testing.assert_array_equal(out['rgb'], raw['rgb'])
    assert out['rgb'].dtype == np.uint8
    for task in TASKONOMY_TRANSFER_TASKS[1:]:
        assert out[task].dtype == np.float32, task
    channels = dict(principal_curvature=2, normal=3, reshading=1)
    for task in TASKONOMY_TRANSFER_TASKS[1:]:
        assert out[task].shape == (8, 8, channels.get(task, 1)), task
    depth_max = 8000 / 65535
    depth = out['depth_zbuffer'][..., 0]
    np.testing.assert_allclose(depth[0, :3], [0.5, 1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(
        depth,
        np.minimum(raw['depth_zbuffer'] / 65535, depth_max) / depth_max,
        rtol=1e-5)
    edge = out['edge_texture'][..., 0]
    np.testing.assert_allclose(
        edge[0, :2], [6553 / 65535 / 0.25, 1.0], rtol=1e-5)
    np.testing.assert_allclose(
        edge, np.minimum(raw['edge_texture'] / 65535, 0.25) / 0.25, rtol=1e-5)
    np.testing.assert_allclose(
        out['edge_occlusion'][..., 0],
        gaussian_blur_3x3(raw['edge_occlusion'] / np.float32(65535)))
    assert not np.allclose(out['edge_occlusion'][..., 0],
                           raw['edge_occlusion'] / 65535)
    for task in ('keypoints2d', 'keypoints3d'):
        np.testing.assert_allclose(
            out[task][..., 0], raw[task] / 65535, rtol=1e-6)
    np.testing.assert_allclose(out['principal_curvature'],
                               raw['principal_curvature'][..., :2] / 255)
    np.testing.assert_allclose(out['normal'], raw['normal'] / 255)
    np.testing.assert_allclose(out['reshading'][..., 0],
                               raw['reshading'] / 255)
    # mask_valid from depth_zbuffer == 65535 at (0, 2) and (1, 6)
    expected = np.ones((8, 8), bool)
    expected[0:4, 0:4] = expected[0:4, 4:8] = False
    np.testing.assert_array_equal(out['mask_valid'], expected)
    assert out['mask_valid'].dtype == bool


def test_mask_valid_file_resize_and_errors(tmp_path):
    root = str(tmp_path)
    raw = write_view(
        root,
        *VIEW,
        tasks=('rgb', 'depth_zbuffer', 'normal', 'reshading'),
        size=16)
    paths = {t: task_path(root, t, *VIEW) for t in raw}
    # Omnidata's 8-bit mask_valid PNG (255 = valid) takes precedence
    mask = np.full((16, 16), 255, np.uint8)
    mask[9, 13] = 0
    paths['mask_valid'] = task_path(
        root, 'mask_valid', *VIEW, domain='depth_zbuffer')
    os.makedirs(tmp_path / 'mask_valid' / 'darden')
    Image.fromarray(mask).save(paths['mask_valid'])
    out = LoadTaskonomyTasks(('depth_zbuffer', 'mask_valid'))(
        dict(img_path=dict(paths), modalities=('extra', )))
    assert out['modalities'] == ('extra', 'depth_zbuffer', 'mask_valid')
    expected = np.ones((16, 16), bool)
    expected[8:12, 12:16] = False
    np.testing.assert_array_equal(out['mask_valid'], expected)
    # resized first as the official dataset does: nearest for tasks
    out = LoadTaskonomyTasks(('rgb', 'depth_zbuffer', 'reshading'),
                             image_size=8)(
                                 dict(img_path=dict(paths)))
    assert out['rgb'].shape == (8, 8, 3)
    bilinear = Image.open(paths['rgb']).resize((8, 8), Image.BILINEAR)
    np.testing.assert_array_equal(out['rgb'], np.array(bilinear))
    np.testing.assert_allclose(
        out['depth_zbuffer'][..., 0],
        np.minimum(raw['depth_zbuffer'][1::2, 1::2] / 65535, 8000 / 65535) /
        (8000 / 65535),
        rtol=1e-5)
    np.testing.assert_allclose(out['reshading'][..., 0],
                               raw['reshading'][1::2, 1::2] / 255)
    # 8-bit file where a 16-bit one is expected: an error naming it
    Image.fromarray((raw['depth_zbuffer'] // 256).astype(np.uint8)).save(
        paths['depth_zbuffer'])
    with pytest.raises(ValueError) as err:
        LoadTaskonomyTasks(('depth_zbuffer', ))(dict(img_path=paths))
    assert paths['depth_zbuffer'] in str(err.value) and '16-bit' in str(
        err.value)
    Image.fromarray(raw['reshading']).save(paths['normal'])
    with pytest.raises(ValueError, match="mode 'L'.*normal|normal.*'L'"):
        LoadTaskonomyTasks(('normal', ))(dict(img_path=paths))
    del paths['mask_valid'], paths['depth_zbuffer']
    with pytest.raises(KeyError, match='depth_zbuffer'):
        LoadTaskonomyTasks(('mask_valid', ))(dict(img_path=paths))
    with pytest.raises(FileNotFoundError, match='keypoints2d file'):
        LoadTaskonomyTasks(('keypoints2d', ))(
            dict(img_path=dict(keypoints2d=str(tmp_path / 'nope.png'))))
    with pytest.raises(ValueError, match='tasks must be'):
        LoadTaskonomyTasks(('rgb', 'depth'))
