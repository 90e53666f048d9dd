# Copyright (c) mmmultimae contributors. All rights reserved.
"""k-NN accuracy of frozen encoder features on a labelled held-out set."""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.device import get_device
from mmengine.evaluator import BaseMetric

from mmmultimae.registry import METRICS
from ..functional import knn_accuracy

#: Feature poolings the records carry.
POOLINGS = ('mean', 'global')


@METRICS.register_module()
class KNNAccuracy(BaseMetric):
    """Leave-one-out weighted k-NN accuracy of pooled encoder features.

    Every held-out sample is classified by the ``k`` most cosine-similar
    other held-out samples, each voting with weight ``exp(s / T)`` (see
    :func:`~mmmultimae.evaluation.knn_classify`); the labels are the
    samples' ``gt_label`` (image classes, e.g. the synthetic scene types)
    and the features those of the frozen encoder on the cross-modal pass of
    :class:`~mmmultimae.engine.runners.MaskedReconstructionValLoop` (every
    token of its visible inputs, e.g. RGB). The k-NN runs on the device
    (``cuda`` when available), in blocks of queries. Key: ``knn/top1``.

    The idea of a k-NN monitor during self-supervised pre-training follows
    DINO (Caron et al., 2021).

    Args:
        k (int): Neighbours. Defaults to 20.
        temperature (float): Vote temperature ``T``. Defaults to 0.07.
        pooling (str): ``'mean'`` (mean of the encoded tokens) or
            ``'global'`` (the global token). Defaults to ``'mean'``.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to ``'knn'``.
        collect_dir (str, optional): Shared folder for ``'cpu'``
            collection.
    """

    default_prefix: Optional[str] = 'knn'

    def __init__(self,
                 k: int = 20,
                 temperature: float = 0.07,
                 pooling: str = 'mean',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        if k < 1:
            raise ValueError(f'KNNAccuracy: k must be >= 1, got {k}')
        if temperature <= 0:
            raise ValueError(
                f'KNNAccuracy: temperature must be > 0, got {temperature}')
        if pooling not in POOLINGS:
            raise ValueError(f'KNNAccuracy: pooling must be one of '
                             f'{POOLINGS}, got {pooling!r}')
        self.k = k
        self.temperature = temperature
        self.pooling = pooling

    @property
    def num_classes(self) -> Optional[int]:
        """Number of image classes of the held-out set (its
        ``metainfo['classes']``), None when unknown."""
        classes = (self.dataset_meta or {}).get('classes')
        return None if classes is None else len(classes)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep every sample's feature and label."""
        for record in data_samples:
            if not isinstance(record, dict) or 'features' not in record:
                raise TypeError(
                    'KNNAccuracy takes the per-sample records of '
                    "MaskedReconstructionValLoop (val_cfg=dict(type='"
                    "MaskedReconstructionValLoop')), got "
                    f'{type(record).__name__}')
            if record.get('gt_label') is None:
                raise KeyError(
                    'KNNAccuracy needs the gt_label of every held-out sample '
                    f'(sample {record.get("sample_idx")} has none)')
            feature = record['features'].get(self.pooling)
            if feature is None:
                raise KeyError(f'no {self.pooling!r} feature in the record '
                               f'of sample {record.get("sample_idx")}')
            self.results.append(
                dict(feature=feature, label=int(record['gt_label'])))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Leave-one-out k-NN top-1 accuracy of the whole set."""
        device = get_device()
        features = torch.stack([r['feature'] for r in results]).to(device)
        labels = torch.tensor([r['label'] for r in results], device=device)
        num_classes = self.num_classes or int(labels.max()) + 1
        top1 = knn_accuracy(features, labels, num_classes, self.k,
                            self.temperature)
        return dict(top1=top1)
