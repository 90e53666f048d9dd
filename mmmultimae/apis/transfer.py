# Copyright (c) mmmultimae contributors. All rights reserved.
"""Glue for judging a transfer (segmentation, depth, image classification):
the constant baseline, the runs' test metrics and a figure of their (dense)
predictions.

Used by ``tools/analysis_tools/compare_transfers.py`` (the demo's tables).
A fine-tuned model should beat the best constant prediction (the training
set's majority class; its median depth) by a wide margin; a pre-trained one
should beat the same model trained from scratch.
"""
import copy
import glob
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmmultimae.registry import METRICS
from mmmultimae.utils import register_all_modules
from mmmultimae.visualization.dense import prediction_row, sample_stem
from mmmultimae.visualization.reconstruction import make_grid


def label_histogram(dataset,
                    num_classes: int,
                    ignore_index: int = 255) -> np.ndarray:
    """Pixel count of every class over the packed samples of ``dataset``.

    Args:
        dataset: Yields ``dict(inputs=..., data_samples=SegDataSample)``.
        num_classes (int): Number of classes ``K``.
        ignore_index (int): Label not counted.

    Returns:
        np.ndarray: int64 ``(K,)``.
    """
    counts = np.zeros(num_classes, dtype=np.int64)
    for i in range(len(dataset)):
        labels = dataset[i]['data_samples'].gt_sem_seg.data.numpy().ravel()
        labels = labels[labels != ignore_index]
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f'sample {i} of {type(dataset).__name__} has label ids '
                f'outside [0, {num_classes}) other than {ignore_index}: '
                f'{sorted(set(labels.tolist()) - set(range(num_classes)))}')
        counts += np.bincount(labels, minlength=num_classes)
    return counts


def class_histogram(dataset, num_classes: int) -> np.ndarray:
    """Image count of every class of an image classification dataset, read
    from its annotations (``get_data_info(i)['gt_label']``; no image is
    loaded).

    Args:
        dataset: An mmengine / mmpretrain dataset with ``gt_label`` s.
        num_classes (int): Number of classes ``K``.

    Returns:
        np.ndarray: int64 ``(K,)``.
    """
    labels = np.array([
        int(dataset.get_data_info(i)['gt_label']) for i in range(len(dataset))
    ], dtype=np.int64)
    bad = sorted(set(labels[(labels < 0) | (labels >= num_classes)].tolist()))
    if bad:
        raise ValueError(f'{type(dataset).__name__} has label ids {bad} '
                         f'outside [0, {num_classes})')
    return np.bincount(labels, minlength=num_classes)


def median_target(dataset) -> float:
    """Median of the valid ``gt_depth_map`` pixels over ``dataset`` (the
    best constant under an L1 loss)."""
    values = []
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        target = sample.gt_depth_map.data
        valid = torch.ones_like(target, dtype=torch.bool)
        if 'gt_valid_mask' in sample:
            valid = sample.gt_valid_mask.data.expand_as(target)
        values.append(target[valid])
    values = torch.cat(values)
    if not values.numel():
        raise ValueError(f'{type(dataset).__name__} has no valid target pixel')
    return float(values.median())


def mean_target(dataset) -> List[float]:
    """Per-channel mean of the valid ``gt_depth_map`` pixels over
    ``dataset`` (e.g. the mean surface normal: the constant baseline of a
    normals run)."""
    sums, count = None, 0
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        target = sample.gt_depth_map.data.double()
        valid = torch.ones_like(target[:1], dtype=torch.bool)
        if 'gt_valid_mask' in sample:
            valid = sample.gt_valid_mask.data
        values = target[:, valid[0]]
        sums = values.sum(1) if sums is None else sums + values.sum(1)
        count += values.shape[1]
    if not count:
        raise ValueError(f'{type(dataset).__name__} has no valid target pixel')
    return (sums / count).tolist()


def constant_prediction_metrics(dataset, value: Union[float,
                                                      Sequence[float]],
                                metric_cfg: dict) -> Dict[str, float]:
    """Score the constant prediction ``value`` with ``metric_cfg``.

    The metric (mmseg's ``IoUMetric``, our ``MaskedDepthMetric``,
    mmpretrain's ``Accuracy``) sees every sample of ``dataset`` with
    ``pred_sem_seg`` (a class id; samples with ``gt_sem_seg``),
    ``pred_depth_map`` (samples with ``gt_depth_map``) filled with ``value``
    or, for image classification (samples with ``gt_label`` only), the
    class ``value`` as ``pred_score`` / ``pred_label``, so the baseline is
    computed by the code that scores the models.

    Args:
        dataset: A dataset yielding packed samples.
        value (float | Sequence[float]): The constant (a class id for
            segmentation; one value per channel, e.g. a mean normal).
        metric_cfg (dict): Config of the metric (``METRICS``).

    Returns:
        dict: The metric's results.
    """
    metric = METRICS.build(copy.deepcopy(metric_cfg))
    metric.dataset_meta = dataset.metainfo
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        if 'gt_sem_seg' not in sample and 'gt_depth_map' not in sample:
            score = torch.zeros(len(dataset.metainfo['classes']))
            score[int(value)] = 1
            metric.process({}, [
                dict(
                    gt_label=sample.gt_label,
                    pred_score=score,
                    pred_label=torch.tensor([int(value)]))
            ])
            continue
        result = SegDataSample(metainfo=sample.metainfo)
        for key in ('gt_sem_seg', 'gt_depth_map', 'gt_valid_mask'):
            if key in sample:
                result.set_field(sample.get(key), key)
        if 'gt_sem_seg' in sample:
            result.pred_sem_seg = PixelData(
                data=torch.full_like(sample.gt_sem_seg.data, int(value)))
        else:
            gt = sample.gt_depth_map.data
            constant = torch.as_tensor(value, dtype=gt.dtype).reshape(-1, 1, 1)
            result.pred_depth_map = PixelData(
                data=constant.expand_as(gt).clone())
        metric.process({}, [result.to_dict()])
    return metric.evaluate(len(dataset))


def run_config(work_dir: str) -> Tuple[Config, str]:
    """The config a training run dumped into ``work_dir`` and its last
    checkpoint (from ``last_checkpoint``)."""
    configs = sorted(glob.glob(osp.join(work_dir, '*.py')))
    if len(configs) != 1:
        raise FileNotFoundError(
            f"expected the one config that tools/train.py writes into "
            f"'{work_dir}', found {configs or 'none'}")
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise FileNotFoundError(f"'{pointer}' not found: has the run in "
                                f"'{work_dir}' finished training?")
    with open(pointer) as f:
        checkpoint = f.read().strip()
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f"'{pointer}' names '{checkpoint}', which does not exist")
    return Config.fromfile(configs[0]), checkpoint


def build_test_runner(cfg: Config, checkpoint: str, work_dir: str) -> Runner:
    """A quiet mmengine runner testing ``checkpoint`` on the config's test
    set (the backbone's pre-training file is not read: the checkpoint
    holds every weight)."""
    register_all_modules()
    cfg = copy.deepcopy(cfg)
    cfg.model.backbone.init_cfg = None
    cfg.load_from = checkpoint
    cfg.work_dir = work_dir
    # one logger per run (runners of one config started within a second
    # would otherwise share the timestamped name)
    cfg.experiment_name = f'test_{osp.basename(osp.normpath(work_dir))}'
    cfg.log_level = 'WARNING'
    cfg.default_hooks.pop('checkpoint', None)
    return Runner.from_cfg(cfg)


def draw_predictions(dataset,
                     indices: Sequence[int],
                     runs: Dict[str, torch.nn.Module],
                     palette: Optional[np.ndarray] = None) -> np.ndarray:
    """One row per sample: its packed inputs (rgb, depth, ...), the ground
    truth and each run's prediction (by its first test mode), drawn by
    :func:`mmmultimae.visualization.dense.prediction_row` (as the
    ``DenseVisualizationHook``).

    Segmentation maps are drawn with ``palette``; depth maps with one
    colour range per row (the ground truth's), so that the runs compare.

    Args:
        dataset: Test dataset yielding packed samples.
        indices (Sequence[int]): Samples to draw.
        runs (dict): Run name -> segmentor / depth estimator in eval mode.
        palette (np.ndarray, optional): ``(K, 3)`` class colours (needed
            for segmentation).

    Returns:
        np.ndarray: uint8 ``(H, W, 3)`` grid.
    """
    rows: List[list] = []
    labels = []
    columns = None
    for idx in indices:
        data = dataset[idx]
        inputs, sample = data['inputs'], data['data_samples']
        field, gt_field = ('pred_sem_seg', 'gt_sem_seg') \
            if 'gt_sem_seg' in sample else ('pred_depth_map', 'gt_depth_map')
        predictions = {}
        for name, model in runs.items():
            with torch.no_grad():
                out = model.test_step(pseudo_collate([data]))[0]
            predictions[name] = out.get(field).data.cpu().numpy()
        valid = sample.gt_valid_mask.data.numpy() \
            if 'gt_valid_mask' in sample else None
        names, tiles = prediction_row(
            {name: value.numpy()
             for name, value in inputs.items()}, predictions,
            sample.get(gt_field).data.numpy(), valid, palette)
        if columns is not None and names != columns:
            raise ValueError(f'sample {idx} has the columns {names}, the '
                             f'first sample {columns}')
        columns = names
        rows.append(tiles)
        labels.append(sample_stem(sample.metainfo, str(idx)))
    return make_grid(rows, labels, columns)
