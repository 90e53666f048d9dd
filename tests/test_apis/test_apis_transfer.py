# Copyright (c) mmmultimae contributors. All rights reserved.
"""The transfer comparison glue: the constant baseline, run lookup and
the prediction figure."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmmultimae.apis.transfer import (class_histogram,
                                      constant_prediction_metrics,
                                      draw_predictions, label_histogram,
                                      mean_target, run_config)
from mmmultimae.datasets import write_synthetic_dataset
from mmmultimae.registry import DATASETS, MODELS
from mmmultimae.utils import register_all_modules
from mmmultimae.visualization import colorize_semseg, dataset_palette, enlarge
from mmmultimae.visualization.reconstruction import (HEADER_HEIGHT,
                                                     LABEL_WIDTH, PAD,
                                                     grid_size)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEG_CONFIG = osp.join(
    ROOT, 'configs', 'multimae', 'benchmarks', 'semseg',
    'multimae_vit-tiny-6l-p8_convnext_1xb8-3e_synthetic-64x64-rgb.py')


class LabelMaps:
    """A dataset of packed samples holding only label maps."""

    def __init__(self, maps, classes):
        self.maps = maps
        self.metainfo = dict(classes=classes)

    def __len__(self):
        return len(self.maps)

    def __getitem__(self, i):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.as_tensor(self.maps[i])[None])
        return dict(inputs={}, data_samples=sample)


def test_label_histogram_counts_and_rejects_unknown_ids():
    data = LabelMaps([np.array([[0, 1], [1, 255]]),
                      np.array([[2, 1]])], ('a', 'b', 'c'))
    assert label_histogram(data, 3).tolist() == [1, 3, 1]
    bad = LabelMaps([np.array([[0, 3]])], ('a', 'b', 'c'))
    with pytest.raises(ValueError, match=r'outside \[0, 3\).*\[3\]'):
        label_histogram(bad, 3)


def test_constant_prediction_miou_is_the_classes_share():
    register_all_modules()
    # class 1 covers 3 of the 5 valid pixels; classes 0, 2 appear once:
    # IoU = (0, 3/5, 0) over the 3 present classes; accuracy 3/5
    data = LabelMaps([np.array([[0, 1], [1, 255]]),
                      np.array([[2, 1]])], ('a', 'b', 'c', 'd'))
    metrics = constant_prediction_metrics(
        data, 1, dict(type='IoUMetric', iou_metrics=['mIoU']))
    assert metrics['mIoU'] == pytest.approx(100 * 0.6 / 3, abs=0.01)
    assert metrics['aAcc'] == pytest.approx(60., abs=0.01)


def test_run_config_needs_a_finished_run(tmp_path):
    with pytest.raises(FileNotFoundError, match='found none'):
        run_config(str(tmp_path))
    (tmp_path / 'cfg.py').write_text('a = 1\n')
    with pytest.raises(FileNotFoundError, match='finished training'):
        run_config(str(tmp_path))
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        run_config(str(tmp_path))
    (tmp_path / 'epoch_3.pth').write_bytes(b'')
    cfg, ckpt = run_config(str(tmp_path))
    assert cfg.a == 1 and ckpt.endswith('epoch_3.pth')


def test_draw_predictions_one_row_per_sample_one_column_per_run(tmp_path):
    """compare_transfers' figure: inputs, ground truth, then each run's
    prediction, drawn by the same code as the DenseVisualizationHook."""
    register_all_modules()
    cfg = Config.fromfile(SEG_CONFIG)
    write_synthetic_dataset(
        str(tmp_path / 'val'), 2, 64, seed=1, progress=False)
    cfg.test_dataloader.dataset.data_root = str(tmp_path)
    cfg.model.backbone.init_cfg = None
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    runs = {}
    for seed in (0, 1):
        torch.manual_seed(seed)
        runs[f'run{seed}'] = MODELS.build(cfg.model).eval()
    palette = dataset_palette(dataset.metainfo)
    figure = draw_predictions(dataset, [0, 1], runs, palette)
    # rgb, depth (packed although the runs read rgb), ground truth, 2 runs
    assert figure.shape == grid_size(2, 5, (128, 128)) + (3, )
    with torch.no_grad():
        pred = runs['run1'].test_step(pseudo_collate([dataset[1]]))[0]
    expected = enlarge(
        colorize_semseg(pred.pred_sem_seg.data[0].numpy(), palette),
        (128, 128))
    y = HEADER_HEIGHT + PAD + (128 + PAD)
    x = LABEL_WIDTH + PAD + 4 * (128 + PAD)
    assert np.array_equal(figure[y:y + 128, x:x + 128], expected)


class NormalMaps:
    """A dataset of packed samples holding normal maps and valid masks."""

    def __init__(self, maps, masks):
        self.maps, self.masks = maps, masks
        self.metainfo = {}

    def __len__(self):
        return len(self.maps)

    def __getitem__(self, i):
        sample = SegDataSample()
        sample.gt_depth_map = PixelData(data=torch.as_tensor(self.maps[i]))
        sample.gt_valid_mask = PixelData(data=torch.as_tensor(self.masks[i]))
        return dict(inputs={}, data_samples=sample)


def test_mean_normal_baseline_is_scored_by_the_normal_metric():
    register_all_modules()
    # image 0: two valid pixels facing +z and +x (and one invalid, -y)
    # image 1: one valid pixel facing +z
    maps = [
        np.array([[[0., 1., 0.]], [[0., 0., -1.]], [[1., 0., 0.]]],
                 np.float32),
        np.array([[[0.]], [[0.]], [[1.]]], np.float32)
    ]
    masks = [np.array([[[True, True, False]]]), np.array([[[True]]])]
    data = NormalMaps(maps, masks)
    mean = mean_target(data)
    assert mean == pytest.approx([1 / 3, 0., 2 / 3])
    metrics = constant_prediction_metrics(
        data, mean, dict(type='SurfaceNormalMetric'))
    # the constant's direction (1, 0, 2) / sqrt(5) is acos(1 / sqrt(5))
    # from +x and acos(2 / sqrt(5)) from +z (twice)
    angles = np.degrees(
        [np.arccos(2 / 5**0.5),
         np.arccos(1 / 5**0.5),
         np.arccos(2 / 5**0.5)])
    assert metrics['mean_angle'] == pytest.approx(angles.mean())
    # |constant - n| summed over the channels of the three valid pixels
    l1 = 2 * (1 / 3 + 0 + 1 / 3) + (2 / 3 + 0 + 2 / 3)
    assert metrics['l1'] == pytest.approx(l1 / 9)
    assert metrics['within_30'] == pytest.approx(100 * 2 / 3)
    with pytest.raises(ValueError, match='no valid target'):
        mean_target(NormalMaps(maps, [np.zeros_like(m) for m in masks]))


class ClassLabels:
    """An image classification dataset of annotations only (get_data_info)
    whose packed samples hold ``gt_label`` (mmpretrain ``DataSample``)."""

    def __init__(self, labels, classes):
        self.labels = labels
        self.metainfo = dict(classes=classes)

    def __len__(self):
        return len(self.labels)

    def get_data_info(self, i):
        return dict(gt_label=self.labels[i])

    def __getitem__(self, i):
        from mmpretrain.structures import DataSample
        return dict(
            inputs=torch.zeros(3, 2, 2),
            data_samples=DataSample().set_gt_label(self.labels[i]))


def test_majority_class_baseline_of_a_classification():
    register_all_modules()
    data = ClassLabels([2, 0, 2, 1, 2], ('a', 'b', 'c'))
    counts = class_histogram(data, 3)
    assert counts.tolist() == [1, 1, 3]
    metrics = constant_prediction_metrics(
        data, int(counts.argmax()),
        dict(type='mmpretrain.Accuracy', topk=(1, 2)))
    # class 'c' everywhere: 3 of 5 right; the other classes score 0, which
    # mmpretrain's threshold (score > 0) never counts, also in the top 2
    assert metrics['accuracy/top1'] == pytest.approx(60.)
    assert metrics['accuracy/top2'] == pytest.approx(60.)
    with pytest.raises(ValueError, match=r'label ids \[3\] outside \[0, 3\)'):
        class_histogram(ClassLabels([0, 3], ('a', 'b', 'c')), 3)
