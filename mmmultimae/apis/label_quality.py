# Copyright (c) mmmultimae contributors. All rights reserved.
"""Quality of dense label folders against ground truth: depth (δ1, abs
rel, ...) and semseg (pixel accuracy, mIoU) of the files of a
pseudo-labelled root (``apis/pseudo_label.py``) compared with the
renderer's files of the same images, next to the best constant labels.
Used by ``tools/analysis_tools/pseudo_label_loop.py``."""
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from mmmultimae.datasets.multimodal_image_folder import scan_modality
from mmmultimae.datasets.transforms import LoadMultiModalImages
from .pseudo_label import DEPTH_SCALE


def _paired_files(pred_root: str, gt_root: str,
                  modality: str) -> List[Tuple[str, str]]:
    preds = scan_modality(osp.join(pred_root, modality), '', ('.png', ))
    gts = scan_modality(osp.join(gt_root, modality), '', ('.png', ))
    missing = sorted(set(preds) - set(gts))
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} {modality} files of '{pred_root}' have no "
            f"ground truth in '{gt_root}' (first: {preds[missing[0]]})")
    if not preds:
        raise FileNotFoundError(f"no {modality} PNG under '{pred_root}'")
    return [(preds[k], gts[k]) for k in sorted(preds)]


def _load(modality: str, path: str, depth_scale: float) -> np.ndarray:
    loader = LoadMultiModalImages(
        modalities=(modality, ), depth_scale=depth_scale)
    return loader(dict(img_path={modality: path}))[modality]


def depth_label_quality(
        pred_root: str,
        gt_root: str,
        constant: Optional[float] = None,
        depth_scale: float = DEPTH_SCALE,
        gt_depth_scale: float = DEPTH_SCALE) -> Dict[str, float]:
    """δ1 and abs rel (and the other depth metrics) of the depth PNGs of
    ``pred_root`` against those of ``gt_root`` (same relative paths),
    averaged over images (valid: ground truth > 0), with
    :func:`~mmmultimae.evaluation.depth_error_sums`.

    Args:
        constant (float, optional): Score this constant instead of the
            files of ``pred_root`` (which still name the images).
        depth_scale (float): Metres per code of the predictions.
        gt_depth_scale (float): Metres per code of the ground truth.

    Returns:
        dict[str, float]: ``DEPTH_METRIC_KEYS`` -> mean over images.
    """
    from mmmultimae.evaluation import depth_error_sums, depth_metrics_from_sums
    pairs = _paired_files(pred_root, gt_root, 'depth')
    per_image = []
    for pred_path, gt_path in pairs:
        gt = torch.from_numpy(_load('depth', gt_path, gt_depth_scale))
        if constant is None:
            pred = torch.from_numpy(_load('depth', pred_path, depth_scale))
            if pred.shape != gt.shape:
                raise ValueError(f"'{pred_path}' is {tuple(pred.shape)}, its "
                                 f"ground truth '{gt_path}' "
                                 f'{tuple(gt.shape)}')
        else:
            pred = torch.full_like(gt, constant)
        valid = gt > 0
        sums = depth_error_sums(
            pred[valid], gt[valid],
            torch.zeros(int(valid.sum()), dtype=torch.long), 1)
        per_image.append({
            k: float(v[0])
            for k, v in depth_metrics_from_sums(sums).items()
        })
    return {
        k: float(np.nanmean([m[k] for m in per_image]))
        for k in per_image[0]
    }


def semseg_label_quality(pred_root: str,
                         gt_root: str,
                         num_classes: int,
                         constant: Optional[int] = None,
                         ignore_index: int = 255) -> Dict[str, float]:
    """Pixel accuracy and mIoU (percent, mmseg's ``IoUMetric`` functions)
    of the semseg PNGs of ``pred_root`` against those of ``gt_root``.

    Args:
        num_classes (int): Classes.
        constant (int, optional): Score this class everywhere instead.
        ignore_index (int): Ground-truth id not scored.

    Returns:
        dict[str, float]: ``aAcc`` and ``mIoU``.
    """
    from mmseg.evaluation.metrics import IoUMetric
    totals = None
    for pred_path, gt_path in _paired_files(pred_root, gt_root, 'semseg'):
        gt = torch.from_numpy(_load('semseg', gt_path, 1.).astype(np.int64))
        if constant is None:
            pred = torch.from_numpy(
                _load('semseg', pred_path, 1.).astype(np.int64))
            if pred.shape != gt.shape:
                raise ValueError(f"'{pred_path}' is {tuple(pred.shape)}, its "
                                 f"ground truth '{gt_path}' "
                                 f'{tuple(gt.shape)}')
        else:
            pred = torch.full_like(gt, constant)
        areas = IoUMetric.intersect_and_union(pred, gt, num_classes,
                                              ignore_index)
        totals = areas if totals is None else [
            a + b for a, b in zip(totals, areas)
        ]
    metrics = IoUMetric.total_area_to_metrics(*totals, metrics=['mIoU'])
    return dict(
        aAcc=float(metrics['aAcc']) * 100,
        mIoU=float(np.nanmean(metrics['IoU'])) * 100)


def constant_labels(gt_root: str,
                    num_classes: int,
                    depth_scale: float = DEPTH_SCALE,
                    ignore_index: int = 255) -> Tuple[float, int]:
    """The best constants of a labelled set: its median depth (metres) and
    its majority class, from ``gt_root/{depth,semseg}``."""
    depths, counts = [], np.zeros(num_classes, np.int64)
    for path in scan_modality(osp.join(gt_root, 'depth'), '',
                              ('.png', )).values():
        depth = _load('depth', path, depth_scale)
        depths.append(depth[depth > 0])
    for path in scan_modality(osp.join(gt_root, 'semseg'), '',
                              ('.png', )).values():
        labels = _load('semseg', path, 1.).ravel()
        labels = labels[labels != ignore_index]
        counts += np.bincount(labels, minlength=num_classes)[:num_classes]
    if not depths or not counts.sum():
        raise FileNotFoundError(f"no depth or semseg PNG under '{gt_root}'")
    return float(np.median(np.concatenate(depths))), int(counts.argmax())
