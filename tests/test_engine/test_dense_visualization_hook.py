# Copyright (c) mmmultimae contributors. All rights reserved.
"""DenseVisualizationHook: prediction figures of the synthetic transfer
configs (segmentation through ``tools/test.py --show-dir``, depth in a
validation run), the interval, multi-channel regression and bad input."""
import glob
import importlib.util
import os.path as osp
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

from mmmultimae.datasets import write_synthetic_dataset
from mmmultimae.engine.hooks import DenseVisualizationHook
from mmmultimae.registry import DATASETS, MODELS
from mmmultimae.utils import register_all_modules
from mmmultimae.visualization import (colorize_depth, colorize_semseg,
                                      dense_range, enlarge, robust_range)
from mmmultimae.visualization.reconstruction import (HEADER_HEIGHT,
                                                     LABEL_WIDTH, PAD,
                                                     grid_size)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCH = osp.join(ROOT, 'configs', 'multimae', 'benchmarks')
SEG = osp.join(
    BENCH, 'semseg',
    'multimae_vit-tiny-6l-p8_convnext_1xb8-3e_synthetic-64x64-rgb-depth.py')
DEPTH = osp.join(BENCH, 'depth',
                 'multimae_vit-tiny-6l-p8_dpt_1xb8-3e_synthetic-64x64-rgb.py')
#: 64 px scenes: tiles enlarged 2x to 128 px
TILE = 128


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp('scenes')
    write_synthetic_dataset(str(root / 'val'), 4, 64, seed=1, progress=False)
    return str(root)


def tile_at(image: np.ndarray, col: int, row: int = 0) -> np.ndarray:
    """The tile of ``make_grid``'s cell (row, col)."""
    y = HEADER_HEIGHT + PAD + row * (TILE + PAD)
    x = LABEL_WIDTH + PAD + col * (TILE + PAD)
    return image[y:y + TILE, x:x + TILE]


def load_png(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert('RGB'))


def tiny_config(path: str, data_root: str) -> Config:
    register_all_modules()
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    cfg.test_dataloader.dataset.data_root = data_root
    cfg.log_level = 'WARNING'
    return cfg


def test_configs_carry_the_hook_switched_off():
    for path in (SEG, DEPTH):
        hook = Config.fromfile(path).default_hooks.visualization
        assert hook.type == 'DenseVisualizationHook'
        assert hook.get('draw', False) is False and hook.interval == 8


def test_segmentation_figures_through_tools_test_show_dir(scenes, tmp_path):
    """tools/test.py --show-dir switches the hook on: every second test
    batch gives one figure: rgb, depth (the model's inputs), ground truth,
    prediction."""
    cfg = tiny_config(SEG, scenes)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    checkpoint = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), checkpoint)
    show_dir = tmp_path / 'show'
    argv = [
        'test.py', SEG, checkpoint, '--work-dir',
        str(tmp_path / 'work'), '--show-dir',
        str(show_dir), '--cfg-options', 'model.backbone.init_cfg=None',
        f'test_dataloader.dataset.data_root={scenes}',
        'default_hooks.visualization.interval=2',
        'visualizer.name=seg_show_dir', 'log_level=WARNING'
    ]
    spec = importlib.util.spec_from_file_location(
        'test_tool', osp.join(ROOT, 'tools', 'test.py'))
    test_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_tool)
    old_argv, sys.argv = sys.argv, argv
    try:
        test_tool.main()
    finally:
        sys.argv = old_argv

    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    stems = [
        osp.splitext(osp.basename(dataset[i]['data_samples'].img_path['rgb']))
        [0] for i in range(4)
    ]
    files = sorted(glob.glob(str(show_dir / 'test' / '*.png')))
    # batches 1 and 3 of 4 (batch size 1, interval 2)
    assert [osp.basename(f) for f in files] == sorted(
        [f'{stems[1]}.png', f'{stems[3]}.png'])
    # the vis backends got them too (LocalVisBackend of the work dir)
    assert len(
        glob.glob(
            str(tmp_path / 'work' / '*' / 'vis_data' / 'vis_image' /
                'test_*.png'))) == 2

    image = load_png(str(show_dir / 'test' / f'{stems[3]}.png'))
    assert image.shape == grid_size(1, 4, (TILE, TILE)) + (3, )
    data = dataset[3]
    inputs, sample = data['inputs'], data['data_samples']
    palette = np.asarray(dataset.metainfo['palette'], np.uint8)
    rgb = inputs['rgb'].permute(1, 2, 0).numpy()
    assert np.array_equal(tile_at(image, 0), enlarge(rgb, (TILE, TILE)))
    depth = inputs['depth'][0].numpy()
    assert np.array_equal(
        tile_at(image, 1),
        enlarge(colorize_depth(depth, *robust_range(depth)), (TILE, TILE)))
    gt = colorize_semseg(sample.gt_sem_seg.data[0].numpy(), palette)
    assert np.array_equal(tile_at(image, 2), enlarge(gt, (TILE, TILE)))
    model.eval()
    with torch.no_grad():
        pred = model.test_step(pseudo_collate([data]))[0].pred_sem_seg
    pred = colorize_semseg(pred.data[0].numpy(), palette)
    assert np.array_equal(tile_at(image, 3), enlarge(pred, (TILE, TILE)))


def test_depth_figures_in_a_validation_run(scenes, tmp_path):
    """In validation (the synthetic config made to validate on its test
    scenes), interval 3 of 4 batches draws batch 2 only: rgb (the only
    input), ground truth and prediction in the ground truth's range."""
    cfg = tiny_config(DEPTH, scenes)
    cfg.val_dataloader = cfg.test_dataloader
    cfg.val_cfg = dict(type='ValLoop')
    cfg.val_evaluator = cfg.test_evaluator
    cfg.work_dir = str(tmp_path)
    cfg.visualizer.name = 'depth_val'
    cfg.default_hooks.visualization.update(draw=True, interval=3)
    runner = Runner.from_cfg(cfg)
    runner.val()
    hook, = [h for h in runner.hooks if isinstance(h, DenseVisualizationHook)]
    dataset = runner.val_dataloader.dataset
    data = dataset[2]
    stem = osp.splitext(
        osp.basename(data['data_samples'].img_path['rgb']))[0]
    assert hook.written == [
        osp.join(str(tmp_path), 'vis_predictions', 'val_iter_000000',
                 f'{stem}.png')
    ]
    image = load_png(hook.written[0])
    assert image.shape == grid_size(1, 3, (TILE, TILE)) + (3, )
    gt = data['data_samples'].gt_depth_map.data.numpy()
    low, high = dense_range(gt)
    assert np.array_equal(
        tile_at(image, 1),
        enlarge(colorize_depth(gt[0], low, high), (TILE, TILE)))
    runner.model.eval()
    with torch.no_grad():
        pred = runner.model.test_step(pseudo_collate([data]))[0]
    pred = colorize_depth(pred.pred_depth_map.data[0].numpy(), low, high)
    assert np.array_equal(tile_at(image, 2), enlarge(pred, (TILE, TILE)))


class RecordingVisualizer:

    def __init__(self):
        self.images = []

    def add_image(self, name, image, step=0):
        self.images.append((name, image.shape, step))


def fake_runner(work_dir, metainfo=None):
    loop = SimpleNamespace(
        dataloader=SimpleNamespace(
            dataset=SimpleNamespace(metainfo=metainfo)))
    return SimpleNamespace(
        work_dir=str(work_dir),
        iter=7,
        model=torch.nn.Identity(),  # no select_inputs: every input
        visualizer=RecordingVisualizer(),
        val_loop=loop,
        test_loop=loop)


def regression_output(channels: int, stem: str) -> SegDataSample:
    rng = np.random.default_rng(channels)
    sample = SegDataSample(metainfo=dict(img_path=dict(rgb=f'/x/{stem}.jpg')))
    gt = torch.from_numpy(rng.uniform(-1, 1, (channels, 8, 8)))
    valid = torch.ones(1, 8, 8, dtype=torch.bool)
    valid[0, 0, 0] = False
    sample.gt_depth_map = PixelData(data=gt)
    sample.gt_valid_mask = PixelData(data=valid)
    sample.pred_depth_map = PixelData(data=gt * 0.5)
    return sample


def rgb_batch(batch_size: int) -> dict:
    return dict(inputs=dict(rgb=[
        torch.full((3, 8, 8), 40 * i, dtype=torch.uint8)
        for i in range(batch_size)
    ]))


def test_interval_and_multichannel_regression(tmp_path):
    """Surface normals (3 channels) are one RGB tile; 2 channels one tile
    per channel; batches interval - 1, 2 * interval - 1 are drawn."""
    hook = DenseVisualizationHook(draw=True, interval=3)
    runner = fake_runner(tmp_path)
    hook.before_test(runner)
    for batch_idx in range(6):
        outputs = [regression_output(3, f'n{batch_idx}_{i}') for i in (0, 1)]
        hook.after_test_iter(runner, batch_idx, rgb_batch(2), outputs)
    names = [osp.basename(p) for p in hook.written]
    assert names == ['n2_0.png', 'n2_1.png', 'n5_0.png', 'n5_1.png']
    assert all(osp.dirname(p) == str(tmp_path / 'vis_predictions' / 'test')
               for p in hook.written)
    assert [(n, s) for n, _, s in runner.visualizer.images
            ] == [('test_n2_0', 7), ('test_n2_1', 7), ('test_n5_0', 7),
                  ('test_n5_1', 7)]
    # rgb, ground truth, prediction; 8 px enlarged 16x to 128
    image = load_png(hook.written[1])
    assert image.shape == grid_size(1, 3, (TILE, TILE)) + (3, )
    assert (tile_at(image, 0) == 40).all()  # the second sample's rgb
    gt_tile = tile_at(image, 1)
    assert gt_tile[:16, :16].max() == 0  # the invalid pixel is black
    # the prediction (half the ground truth) in the ground truth's range
    output = regression_output(3, 'n5_1')
    gt = output.gt_depth_map.data.numpy()
    low, high = dense_range(gt, output.gt_valid_mask.data.numpy())
    pred = np.clip((gt * 0.5 - low) / (high - low), 0, 1)
    pred = np.round(pred * 255).astype(np.uint8).transpose(1, 2, 0)
    assert np.array_equal(tile_at(image, 2), enlarge(pred, (TILE, TILE)))

    hook = DenseVisualizationHook(draw=True, interval=1)
    hook.after_val_iter(runner, 0, rgb_batch(1),
                        [regression_output(2, 'two')])
    image = load_png(hook.written[0])
    # rgb, ground truth [0], [1], prediction [0], [1]
    assert image.shape == grid_size(1, 5, (TILE, TILE)) + (3, )
    assert osp.basename(osp.dirname(hook.written[0])) == 'val_iter_000007'


def test_draw_false_and_training_draw_nothing(tmp_path):
    runner = fake_runner(tmp_path)
    hook = DenseVisualizationHook(interval=1)
    hook.after_test_iter(runner, 0, rgb_batch(1), [regression_output(1, 'a')])
    hook = DenseVisualizationHook(draw=True, interval=1)
    hook.after_train_iter(runner, 0, rgb_batch(1), {})
    assert not hook.written and not runner.visualizer.images
    assert not osp.exists(tmp_path / 'vis_predictions')


def test_bad_interval_and_missing_keys(tmp_path):
    for interval in (0, -1, 1.5):
        with pytest.raises(ValueError, match='interval must be an int >= 1'):
            DenseVisualizationHook(interval=interval)
    with pytest.raises(TypeError, match='draw must be a bool'):
        DenseVisualizationHook(draw='yes')

    hook = DenseVisualizationHook(draw=True, interval=1)
    runner = fake_runner(tmp_path)
    with pytest.raises(KeyError, match=r"dict\(inputs=.*keys \['img'\]"):
        hook.after_test_iter(runner, 0, dict(img=[]),
                             [regression_output(1, 'a')])
    bare = SegDataSample(metainfo=dict(img_path='/x/a.jpg'))
    bare.gt_depth_map = PixelData(data=torch.zeros(1, 8, 8))
    with pytest.raises(KeyError,
                       match=r"pred_sem_seg or pred_depth_map.*"
                       r"\['gt_depth_map'\]"):
        hook.after_test_iter(runner, 0, rgb_batch(1), [bare])

    # segmentation needs the dataset's palette or classes
    seg = SegDataSample(metainfo=dict(img_path='/x/a.jpg'))
    seg.pred_sem_seg = PixelData(data=torch.zeros(1, 8, 8, dtype=torch.long))
    runner = fake_runner(tmp_path, metainfo=dict(foo=1))
    hook.before_test(runner)
    with pytest.raises(KeyError, match="'palette' or 'classes'"):
        hook.after_test_iter(runner, 0, rgb_batch(1), [seg])
    runner = fake_runner(tmp_path, metainfo=dict(classes=('a', 'b')))
    hook.before_test(runner)
    hook.after_test_iter(runner, 0, rgb_batch(1), [seg])
    assert osp.basename(hook.written[-1]) == 'a.png'
