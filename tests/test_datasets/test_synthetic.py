# Copyright (c) mmmultimae contributors. All rights reserved.
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

from mmmultimae.datasets import (MultiModalImageFolder, SyntheticScenes,
                                 SyntheticScenesSegDataset, decode_depth,
                                 decode_normals, encode_depth, render,
                                 render_scene, sample_scene,
                                 write_synthetic_dataset)
from mmmultimae.datasets.synthetic.geometry import Sphere
from mmmultimae.datasets.synthetic.metainfo import (CLASSES, FLOOR, PALETTE,
                                                    SCENE_TYPES, SPHERE)
from mmmultimae.datasets.synthetic.scene_sampler import scene_type_of
from mmmultimae.datasets.synthetic.writer import scene_paths

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(autouse=True)
def mmmultimae_scope():
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        yield


def _backproject(scene, depth):
    """World points ``(H, W, 3)`` of a z-buffer depth map."""
    height, width = depth.shape
    k = scene.camera.intrinsics((height, width))
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    cam = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1],
                    np.ones_like(u)], -1) * depth[..., None]
    return cam @ scene.camera.rotation.T + scene.camera.position


def test_deterministic_per_seed_and_index():
    a = render_scene(3, seed=1, image_size=(40, 56))
    b = render_scene(3, seed=1, image_size=(40, 56))
    for key in ('rgb', 'depth', 'semseg', 'normal'):
        np.testing.assert_array_equal(a[key], b[key])
    other_index = render_scene(4, seed=1, image_size=(40, 56))
    other_seed = render_scene(3, seed=2, image_size=(40, 56))
    assert not np.array_equal(a['depth'], other_index['depth'])
    assert not np.array_equal(a['depth'], other_seed['depth'])
    with pytest.raises(ValueError, match='index and seed must be >= 0'):
        render_scene(-1)


def test_shapes_and_dtypes_non_square():
    out = render_scene(0, image_size=(37, 53))
    assert out['rgb'].shape == (37, 53, 3) and out['rgb'].dtype == np.uint8
    assert out['depth'].shape == (37, 53)
    assert out['depth'].dtype == np.float32
    assert out['semseg'].shape == (37, 53)
    assert out['semseg'].dtype == np.uint8
    assert out['normal'].shape == (37, 53, 3)
    assert out['normal'].dtype == np.float32
    assert np.isfinite(out['depth']).all() and out['depth'].min() > 0.5
    assert out['semseg'].max() < len(CLASSES)
    norms = np.linalg.norm(out['normal'], axis=-1)
    np.testing.assert_allclose(norms, 1, atol=1e-4)
    # visible surfaces face the camera: normal . pixel ray < 0
    k = sample_scene(0).camera.intrinsics((37, 53))
    u, v = np.meshgrid(np.arange(53) + 0.5, np.arange(37) + 0.5)
    rays = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1],
                     np.ones_like(u)], -1)
    assert ((out['normal'] * rays).sum(-1) < 0).all()
    with pytest.raises(ValueError, match='image_size'):
        render_scene(0, image_size=(0, 8))


def test_same_scene_at_any_resolution():
    """Pixel centres of a 3x finer grid include the coarse ones."""
    low = render_scene(5, image_size=(16, 24))
    high = render_scene(5, image_size=(48, 72))
    sub = {k: v[1::3, 1::3] for k, v in high.items()}
    same_label = sub['semseg'] == low['semseg']
    assert same_label.mean() > 0.98
    np.testing.assert_allclose(
        sub['depth'][same_label], low['depth'][same_label], rtol=1e-4)


def test_many_classes_across_scenes():
    present = set()
    for index in range(6):
        present |= set(
            np.unique(render_scene(index,
                                   image_size=(48, 64))['semseg']).tolist())
    assert len(present) >= 8, present
    assert len(CLASSES) >= 8


def test_floor_depth_matches_geometry():
    for index in range(3):
        scene = sample_scene(index)
        out = render(scene, (48, 64))
        floor = out['semseg'] == FLOOR
        assert floor.sum() > 100
        # back-projected floor pixels lie on the plane y = 0
        points = _backproject(scene, out['depth'])
        np.testing.assert_allclose(points[floor][:, 1], 0, atol=2e-3)
        # camera-frame floor normal is the world up vector, rotated
        expected = scene.camera.rotation.T @ np.array([0, 1, 0])
        np.testing.assert_allclose(
            out['normal'][floor],
            np.broadcast_to(expected, (floor.sum(), 3)),
            atol=1e-5)
        # 1/z of a plane is affine in the pixel coordinates, and the floor
        # recedes towards the horizon (up the image)
        v, u = np.nonzero(floor)
        design = np.stack([u, v, np.ones_like(u)], -1).astype(np.float64)
        inv = 1 / out['depth'][floor].astype(np.float64)
        coef, *_ = np.linalg.lstsq(design, inv, rcond=None)
        np.testing.assert_allclose(design @ coef, inv, atol=1e-5)
        upper = floor & (np.arange(48)[:, None] < np.median(v))
        lower = floor & (np.arange(48)[:, None] >= np.median(v))
        assert out['depth'][upper].mean() > out['depth'][lower].mean()


def test_sphere_depth_and_normals_match_geometry():
    checked = 0
    for index in range(8):
        scene = sample_scene(index)
        spheres = [o for o in scene.objects if isinstance(o, Sphere)]
        out = render(scene, (48, 64))
        mask = out['semseg'] == SPHERE
        if not spheres or mask.sum() < 10:
            continue
        points = _backproject(scene, out['depth'])[mask]
        centers = np.stack([s.center for s in spheres])
        radii = np.array([s.radius for s in spheres])
        dist = np.linalg.norm(points[:, None] - centers[None], axis=-1)
        nearest = np.abs(dist - radii).argmin(axis=1)
        np.testing.assert_allclose(
            dist[np.arange(len(points)), nearest], radii[nearest], atol=2e-3)
        world_normal = (points - centers[nearest]) / radii[nearest, None]
        np.testing.assert_allclose(
            out['normal'][mask],
            world_normal @ scene.camera.rotation,
            atol=5e-3)
        checked += 1
    assert checked >= 2


def test_shadows_only_darken():
    scene = sample_scene(0)
    lit = render(scene, (48, 64), shadows=False)
    shaded = render(scene, (48, 64), shadows=True)
    np.testing.assert_array_equal(lit['depth'], shaded['depth'])
    assert (shaded['rgb'] <= lit['rgb']).all()
    assert (shaded['rgb'] < lit['rgb']).any()


def test_depth_encoding_round_trip():
    depth = np.array([[0.0, 1.2345], [7.5, 127.99]], np.float32)
    code = encode_depth(depth)
    assert code.dtype == np.uint16
    np.testing.assert_allclose(decode_depth(code), depth, atol=128 / 2**17)
    with pytest.raises(ValueError, match='non-finite'):
        encode_depth(np.array([np.nan], np.float32))
    with pytest.raises(ValueError, match='outside'):
        encode_depth(np.array([128.0], np.float32))


def test_writer_layout_and_round_trip(tmp_path):
    out = str(tmp_path / 'scenes')
    counts = write_synthetic_dataset(
        out, 4, image_size=(24, 32), rgb_format='png', progress=False)
    assert counts == dict(written=4, skipped=0)
    with open(osp.join(out, 'synthetic_scenes.json')) as f:
        meta = json.load(f)
    assert meta['semseg_classes'] == list(CLASSES)
    assert meta['image_size'] == [24, 32] and meta['num_scenes'] == 4
    for index in range(4):
        paths = scene_paths(out, index, rgb_format='png')
        folder = SCENE_TYPES[scene_type_of(index)]
        ref = render_scene(index, image_size=(24, 32))
        for mod, path in paths.items():
            assert path == osp.join(out, mod, folder, f'scene_{index:07d}.png')
        with Image.open(paths['depth']) as img:
            assert img.mode == 'I;16'
            depth = decode_depth(np.asarray(img))
        np.testing.assert_allclose(depth, ref['depth'], atol=128 / 2**17)
        with Image.open(paths['semseg']) as img:
            assert img.mode == 'P'
            np.testing.assert_array_equal(np.asarray(img), ref['semseg'])
        with Image.open(paths['rgb']) as img:
            np.testing.assert_array_equal(np.asarray(img), ref['rgb'])
        with Image.open(paths['normal']) as img:
            normal = decode_normals(np.asarray(img))
        np.testing.assert_allclose(normal, ref['normal'], atol=1.5 / 127.5)

    # idempotent: complete scenes are skipped, a missing file is redone
    os.remove(scene_paths(out, 2, rgb_format='png')['semseg'])
    counts = write_synthetic_dataset(
        out, 5, image_size=(24, 32), rgb_format='png', progress=False)
    assert counts == dict(written=2, skipped=3)
    with pytest.raises(ValueError, match='seed'):
        write_synthetic_dataset(
            out,
            5,
            image_size=(24, 32),
            seed=1,
            rgb_format='png',
            progress=False)
    with pytest.raises(ValueError, match='image_size'):
        write_synthetic_dataset(
            out, 5, image_size=(16, 16), rgb_format='png', progress=False)


def test_writer_workers_match_and_cli(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'make_synthetic_scenes',
        osp.join(REPO, 'tools', 'dataset_converters',
                 'make_synthetic_scenes.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main([
        '--out',
        str(tmp_path / 'a'), '--num-scenes', '3', '--image-size', '16', '24',
        '--workers', '2', '--quiet'
    ])
    write_synthetic_dataset(
        str(tmp_path / 'b'), 3, image_size=(16, 24), progress=False)
    for index in range(3):
        pa = scene_paths(str(tmp_path / 'a'), index)
        pb = scene_paths(str(tmp_path / 'b'), index)
        for mod in ('depth', 'semseg', 'normal'):
            with Image.open(pa[mod]) as a, Image.open(pb[mod]) as b:
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert pa['rgb'].endswith('.jpg') and osp.isfile(pa['rgb'])


def test_synthetic_dataset_matches_written_files(tmp_path):
    """The in-memory dataset feeds the pipeline what the loader reads."""
    mods = ('rgb', 'depth', 'semseg', 'normal')
    write_synthetic_dataset(
        str(tmp_path),
        3,
        image_size=(24, 32),
        rgb_format='png',
        progress=False)
    folder = MultiModalImageFolder(
        str(tmp_path),
        modalities=mods,
        pipeline=[
            dict(
                type='LoadMultiModalImages',
                modalities=mods,
                depth_scale=128 / 2**16)
        ])
    memory = SyntheticScenes(3, image_size=(24, 32), modalities=mods)
    assert memory.metainfo['classes'] == SCENE_TYPES
    by_name = {
        osp.basename(folder[i]['img_path']['rgb']): folder[i]
        for i in range(len(folder))
    }
    for i in range(3):
        sample = memory[i]
        assert sample['gt_label'] == scene_type_of(i)
        assert sample['modalities'] == mods
        loaded = by_name[f'scene_{i:07d}.png']
        assert loaded['ori_shape'] == sample['ori_shape'] == (24, 32)
        for mod in ('rgb', 'semseg', 'normal'):
            assert loaded[mod].dtype == sample[mod].dtype
            np.testing.assert_array_equal(loaded[mod], sample[mod])
        np.testing.assert_allclose(
            loaded['depth'], sample['depth'], atol=128 / 2**17)


def test_synthetic_dataset_pipeline_and_errors():
    pipeline = [
        dict(type='MultiModalRandomResizedCrop', size=(32, 48)),
        dict(type='MultiModalRandomFlip'),
        dict(type='DownsampleLabels'),
        dict(type='PackMultiModalInputs', num_classes=len(CLASSES))
    ]
    dataset = SyntheticScenes(
        4, seed=3, image_size=(40, 60), pipeline=pipeline)
    assert len(dataset) == 4
    packed = dataset[1]
    assert set(packed['inputs']) == {'rgb', 'depth', 'semseg'}
    assert packed['inputs']['rgb'].shape == (3, 32, 48)
    assert packed['inputs']['depth'].shape == (1, 32, 48)
    assert packed['inputs']['semseg'].shape == (8, 12)
    meta = packed['data_samples'].metainfo
    assert meta['gt_label'] == scene_type_of(1, 3)
    assert meta['img_path']['depth'] == 'synthetic://3/1/depth'
    with pytest.raises(ValueError, match='remove LoadMultiModalImages'):
        SyntheticScenes(2, pipeline=[dict(type='LoadMultiModalImages')])
    with pytest.raises(ValueError, match='subset'):
        SyntheticScenes(2, modalities=('rgb', 'thermal'))


def test_seg_dataset_classes_are_the_pixel_classes(tmp_path):
    write_synthetic_dataset(str(tmp_path), 6, 32, progress=False)
    dataset = SyntheticScenesSegDataset(
        data_root=str(tmp_path),
        pipeline=[
            dict(type='LoadMultiModalImages', modalities=('rgb', 'semseg')),
            dict(type='PackMultiModalSegInputs', seg_target='semseg')
        ])
    assert dataset.metainfo['classes'] == CLASSES
    assert dataset.metainfo['palette'] == [list(c) for c in PALETTE]
    assert set(dataset.metainfo['scene_types']) <= set(SCENE_TYPES)
    labels = dataset[0]['data_samples'].gt_sem_seg.data
    assert labels.shape == (1, 32, 32)
    assert 0 <= labels.min() and labels.max() < len(CLASSES)


def test_seg_packing_refuses_misaligned_targets(tmp_path):
    write_synthetic_dataset(str(tmp_path), 1, 32, progress=False)
    label = next((tmp_path / 'semseg').rglob('*.png'))
    Image.open(label).resize((16, 16)).save(label)
    dataset = SyntheticScenesSegDataset(
        data_root=str(tmp_path),
        pipeline=[
            dict(type='LoadMultiModalImages', modalities=('rgb', 'semseg')),
            dict(type='PackMultiModalSegInputs', seg_target='semseg')
        ])
    with pytest.raises(ValueError, match=r'same height and width.*' +
                       label.name):
        dataset[0]
