# Copyright (c) mmmultimae contributors. All rights reserved.
"""tools/dataset_converters/hypersim.py on tiny files in the real layout."""
import csv
import importlib.util
import json
import math
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

h5py = pytest.importorskip('h5py')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'dataset_converters', 'hypersim.py')
H, W = 6, 8  # Hypersim's 768 x 1024 aspect ratio

# (scene, camera, frame, public, partition); frame 2 of ai_001_001 is in the
# csv but has no files on disk
ROWS = [
    ('ai_001_001', 'cam_00', 0, True, 'train'),
    ('ai_001_001', 'cam_00', 1, True, 'train'),
    ('ai_001_001', 'cam_00', 2, True, 'train'),
    ('ai_001_001', 'cam_01', 0, False, ''),
    ('ai_002_003', 'cam_00', 0, True, 'val'),
    ('ai_002_003', 'cam_00', 5, True, 'test'),
]
ON_DISK = [r for r in ROWS if r[3] and r[2] != 2]


def load_tool():
    spec = importlib.util.spec_from_file_location('hypersim_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hypersim = load_tool()


def planar_to_distance(planar, fov_x=math.pi / 3):
    """Euclidean distance of each pixel's point at a planar depth.

    Pinhole intrinsics written independently of the converter: focal
    length ``(W / 2) / tan(fov / 2)`` in pixels, principal point at the
    image centre, pixel centres at ``+0.5``.
    """
    focal = (W / 2) / math.tan(fov_x / 2)
    x = (np.arange(W) + 0.5 - W / 2) / focal
    y = (np.arange(H) + 0.5 - H / 2) / focal
    xx, yy = np.meshgrid(x, y)
    return planar * np.sqrt(1 + xx**2 + yy**2)


def write_h5(path, array):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with h5py.File(path, 'w') as f:
        f.create_dataset('dataset', data=array)


def make_frame(seed):
    rng = np.random.default_rng(seed)
    planar = rng.uniform(1.0, 6.0, (H, W))
    distance = planar_to_distance(planar).astype(np.float16)
    entity = rng.integers(1, 50, (H, W)).astype(np.int32)
    entity[0, 1] = -1  # no surface: window to the background
    distance[0, 1] = np.nan
    distance[1, 2] = np.nan  # a surface without depth
    semantic = rng.integers(1, 41, (H, W)).astype(np.int16)
    semantic[2, :] = -1
    color = np.full((H, W, 3), 0.5, np.float16)
    color[0, 1] = 50.0  # bright background, excluded from the statistics
    return dict(
        color=color,
        depth_meters=distance,
        semantic=semantic,
        render_entity_id=entity)


def write_hypersim(root, rows=ON_DISK):
    frames = {}
    for scene, cam, frame, _, _ in rows:
        arrays = make_frame(len(frames))
        images = osp.join(root, scene, 'images')
        name = f'frame.{frame:04d}'
        write_h5(
            osp.join(images, f'scene_{cam}_final_hdf5', f'{name}.color.hdf5'),
            arrays['color'])
        for key in ('depth_meters', 'semantic', 'render_entity_id'):
            write_h5(
                osp.join(images, f'scene_{cam}_geometry_hdf5',
                         f'{name}.{key}.hdf5'), arrays[key])
        frames[f'{scene}_{cam}_{frame:04d}'] = arrays
    return frames


def write_split_csv(path, rows=ROWS):
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow([
            'scene_name', 'camera_name', 'frame_id',
            'included_in_public_release', 'exclude_reason',
            'split_partition_name'
        ])
        for scene, cam, frame, public, partition in rows:
            writer.writerow([
                scene, cam, frame,
                str(public), '' if public else 'CONTENT FLAGGED FOR REMOVAL',
                partition
            ])
    return str(path)


def test_planar_depth_matches_pinhole_geometry():
    planar = np.random.default_rng(0).uniform(1, 5, (H, W))
    distance = planar_to_distance(planar)
    recovered = hypersim.planar_depth_from_distance(
        distance, hypersim.standard_cam_from_uv(H, W))
    np.testing.assert_allclose(recovered, planar, rtol=1e-12)
    # Hypersim's standard matrix (metadata_camera_parameters.csv, 1024x768;
    # computed there from the float32 fov 1.0471975803375244)
    np.testing.assert_allclose(
        hypersim.standard_cam_from_uv(768, 1024),
        np.diag([0.5773502886169104, 0.4330127164626828, -1.0]),
        rtol=1e-7)


def test_tonemap_hypersim_rule():
    hdr = np.full((H, W, 3), 0.5)
    hdr[0, 0] = 50.0
    surface = np.ones((H, W), bool)
    surface[0, 0] = False
    out = hypersim.tonemap(hdr, surface)
    # 90th percentile 0.5 -> scale 0.8**2.2 / 0.5 -> 0.8 after gamma
    assert out.dtype == np.uint8
    assert (out[surface] == round(0.8 * 255)).all()
    assert (out[0, 0] == 255).all()
    # a black image keeps scale 0 (percentile below 1e-4)
    assert (hypersim.tonemap(np.zeros((H, W, 3)), None) == 0).all()


def test_convert_hypersim_layout_values_missing_and_dataset(tmp_path):
    frames = write_hypersim(str(tmp_path / 'hypersim'))
    split_csv = write_split_csv(tmp_path / 'split.csv')
    out = tmp_path / 'out'
    logs = []
    meta = hypersim.convert_hypersim(
        str(tmp_path / 'hypersim'), split_csv, str(out), log=logs.append)
    expected = {
        'train': ['ai_001_001_cam_00_0000', 'ai_001_001_cam_00_0001'],
        'val': ['ai_002_003_cam_00_0000'],
        'test': ['ai_002_003_cam_00_0005']
    }
    for split, stems in expected.items():
        for mod in ('rgb', 'depth', 'semseg', 'mask_valid'):
            names = sorted(p.name for p in (out / split / mod).iterdir())
            assert names == [s + '.png' for s in stems]
    for split, stems in expected.items():
        for stem in stems:
            arrays = frames[stem]

            def read(mod):
                return np.array(Image.open(out / split / mod / f'{stem}.png'))

            valid = np.ones((H, W), bool)
            valid[0, 1] = valid[1, 2] = False
            np.testing.assert_array_equal(read('mask_valid'), valid * 255)
            planar = planar_to_distance(np.ones((H, W)))
            expected_depth = arrays['depth_meters'].astype(np.float64) / \
                planar
            depth = read('depth').astype(np.float64) / 1000
            assert np.abs(depth - expected_depth)[valid].max() <= 5e-4 + 1e-9
            assert (depth[~valid] == 0).all()
            semseg = read('semseg')
            assert (semseg[2] == 0).all()
            np.testing.assert_array_equal(
                np.delete(semseg, 2, axis=0),
                np.delete(arrays['semantic'], 2, axis=0))
            rgb = read('rgb')
            assert (rgb[1:] == 204).all() and (rgb[0, 1] == 255).all()
    # the missing frame is reported by path, the excluded one is not used
    missing = meta['missing_files']
    assert len(missing) == 4
    assert all('frame.0002' in p for p in missing)
    assert osp.join('scene_cam_00_final_hdf5', 'frame.0002.color.hdf5') in \
        missing[0]
    listed = (out / 'missing_files.txt').read_text().split()
    assert listed == missing
    assert any('1 of 5 frames were skipped' in m for m in logs)
    assert not list(out.glob('*/rgb/*cam_01*'))
    on_disk = json.loads((out / 'meta.json').read_text())
    assert on_disk['dataset'] == 'hypersim'
    assert {
        k: v['count']
        for k, v in on_disk['splits'].items()
    } == dict(
        train=2, val=1, test=1)
    assert on_disk['notes']['num_skipped_frames'] == '1'
    assert 'standard camera' in on_disk['notes']['depth']

    from mmmultimae.datasets.multimodal_seg_dataset import HypersimDataset
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        dataset = HypersimDataset(
            str(out), split='train', optional_modalities=('mask_valid', ))
    assert [dataset.get_data_info(i)['img_id'] for i in range(2)] == \
        expected['train']


def test_convert_hypersim_per_scene_camera(tmp_path):
    rows = [('ai_037_002', 'cam_00', 0, True, 'train')]
    frames = write_hypersim(str(tmp_path / 'hs'), rows)
    split_csv = write_split_csv(tmp_path / 'split.csv', rows)
    # a tilt-shift camera: rays shifted off the optical axis
    matrix = np.array([[0.58, 0.0, 0.06], [0.0, 0.43, -0.08], [0, 0, -1.0]])
    params = tmp_path / 'metadata_camera_parameters.csv'
    entries = [f'M_cam_from_uv_{r}{c}' for r in range(3) for c in range(3)]
    with open(params, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow([
            'scene_name', 'settings_output_img_height',
            'settings_output_img_width'
        ] + entries)
        writer.writerow(
            ['ai_037_002', float(H), float(W)] + matrix.ravel().tolist())
    out = tmp_path / 'out'
    meta = hypersim.convert_hypersim(
        str(tmp_path / 'hs'),
        split_csv,
        str(out),
        camera_params=str(params),
        log=lambda m: None)
    distance = frames['ai_037_002_cam_00_0000']['depth_meters'].astype(
        np.float64)
    u = (np.arange(W) + 0.5) / W * 2 - 1
    v = -((np.arange(H) + 0.5) / H * 2 - 1)
    ray_x = matrix[0, 0] * u[None, :] + matrix[0, 2]
    ray_y = matrix[1, 1] * v[:, None] + matrix[1, 2]
    expected = distance / np.sqrt(ray_x**2 + ray_y**2 + 1)
    depth = np.array(
        Image.open(out / 'train' / 'depth' /
                   'ai_037_002_cam_00_0000.png')).astype(np.float64) / 1000
    valid = np.isfinite(expected)
    valid[0, 1] = False
    assert np.abs(depth - expected)[valid].max() <= 5e-4 + 1e-9
    assert 'per-scene' in meta['notes']['depth']
    params.write_text('scene_name\nai_037_002\n')
    with pytest.raises(ValueError, match='M_cam_from_uv_00'):
        hypersim.convert_hypersim(
            str(tmp_path / 'hs'),
            split_csv,
            str(out),
            camera_params=str(params))


def test_convert_hypersim_errors(tmp_path):
    root = tmp_path / 'hs'
    rows = [('ai_001_001', 'cam_00', 0, True, 'train')]
    write_hypersim(str(root), rows)
    bad_csv = tmp_path / 'bad.csv'
    bad_csv.write_text('scene_name,frame_id\nai_001_001,0\n')
    with pytest.raises(ValueError, match='camera_name'):
        hypersim.read_split_csv(str(bad_csv))
    split_csv = write_split_csv(tmp_path / 'split.csv', rows)
    with pytest.raises(ValueError, match='ai_009_009'):
        hypersim.read_split_csv(split_csv, scenes=['ai_009_009'])
    semantic = osp.join(root, 'ai_001_001', 'images',
                        'scene_cam_00_geometry_hdf5',
                        'frame.0000.semantic.hdf5')
    write_h5(semantic, np.full((H, W), 41, np.int16))
    with pytest.raises(ValueError, match='frame.0000.semantic.hdf5'):
        hypersim.convert_hypersim(
            str(root), split_csv, str(tmp_path / 'o'), log=lambda m: None)
    with h5py.File(semantic, 'w') as f:
        f.create_dataset('data', data=np.ones((H, W), np.int16))
    with pytest.raises(KeyError, match="no dataset 'dataset'"):
        hypersim.convert_hypersim(
            str(root), split_csv, str(tmp_path / 'o'), log=lambda m: None)


@pytest.mark.slow
def test_hypersim_command_line_missing_files(tmp_path):
    write_hypersim(str(tmp_path / 'hs'))
    split_csv = write_split_csv(tmp_path / 'split.csv')
    out = tmp_path / 'out'
    proc = subprocess.run([
        sys.executable, TOOL,
        str(tmp_path / 'hs'), split_csv,
        str(out), '--scenes', 'ai_001_001'
    ],
                          capture_output=True,
                          text=True,
                          timeout=120)
    # frame 2 is missing: converted the rest, listed it, failed
    assert proc.returncode == 1
    assert 'missing: ' in proc.stdout and 'frame.0002' in proc.stdout
    assert 'train 2 samples' in proc.stdout
    assert '--allow-missing' in proc.stderr
    # --allow-missing accepts it (in-process, same code path)
    hypersim.main([
        str(tmp_path / 'hs'), split_csv,
        str(out), '--scenes', 'ai_001_001', '--allow-missing'
    ])
    with pytest.raises(SystemExit) as exit_info:
        hypersim.main([str(tmp_path / 'nope'), split_csv, str(out)])
    assert 'is not a folder' in str(exit_info.value.code)
