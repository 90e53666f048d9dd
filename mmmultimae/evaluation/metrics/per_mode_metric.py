# Copyright (c) mmmultimae contributors. All rights reserved.
"""One metric per segmentor test mode, reported side by side."""
import copy
from typing import Dict, Optional, Sequence

from mmengine.evaluator import BaseMetric

from mmmultimae.registry import METRICS


@METRICS.register_module()
class PerTestModeMetric(BaseMetric):
    """Evaluate ``metric`` once per test mode of the segmentor.

    Multi-modal segmentors store every test mode's prediction in the data
    sample's ``test_mode_results`` (``whole``, ``slide``, ``resize_pad``,
    ``resize_pad_official``, see ``MultiModalSegmentorMixin``); this wrapper
    feeds each to its own copy of ``metric`` (e.g. mmseg's ``IoUMetric``,
    which computes the numbers) and reports ``<key>/<mode>``, e.g.
    ``mIoU/resize_pad`` and ``mIoU/slide`` from one validation run, so a
    checkpoint can be selected by one of them (``save_best``).

    Args:
        metric (dict): Config of the wrapped metric (``METRICS``).
        modes (Sequence[str], optional): Modes to evaluate; by default every
            mode the samples carry. A listed mode missing from a sample is an
            error.
        collect_device (str): Device of the result collection.
        prefix (str, optional): Metric prefix (mmengine's).
    """

    def __init__(self,
                 metric: dict,
                 modes: Optional[Sequence[str]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.metric_cfg = dict(metric)
        METRICS.build(copy.deepcopy(self.metric_cfg))  # fail early
        self.modes = list(modes) if modes else None
        self.metrics: Dict[str, BaseMetric] = {}

    def _metric(self, mode: str) -> BaseMetric:
        if mode not in self.metrics:
            metric = METRICS.build(copy.deepcopy(self.metric_cfg))
            metric.dataset_meta = self.dataset_meta
            self.metrics[mode] = metric
        return self.metrics[mode]

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Hand each mode's prediction to that mode's metric."""
        by_mode: Dict[str, list] = {}
        for sample in data_samples:
            results = sample.get('test_mode_results')
            if results is None:
                raise KeyError(
                    'PerTestModeMetric: the data sample has no '
                    "'test_mode_results'; use a multi-modal segmentor "
                    '(MultiModalEncoderDecoder / MultiModalDepthEstimator)')
            modes = self.modes or list(results)
            for mode in modes:
                if mode not in results:
                    raise KeyError(
                        f'PerTestModeMetric: test mode {mode!r} was not run '
                        f'(the model ran {sorted(results)}); set '
                        'model.test_cfg.mode')
                by_mode.setdefault(mode, []).append(results[mode])
        for mode, samples in by_mode.items():
            self._metric(mode).process(data_batch, samples)

    def compute_metrics(self, results: list) -> dict:
        """Unused: :meth:`evaluate` asks every mode's metric."""
        raise RuntimeError('PerTestModeMetric computes through evaluate()')

    def evaluate(self, size: int) -> dict:
        """``{<key>/<mode>: value}`` over all modes (each mode's metric
        collects its results across processes)."""
        if not self.metrics:
            raise RuntimeError('PerTestModeMetric got no prediction')
        out = {}
        for mode in sorted(self.metrics):
            for key, value in self.metrics[mode].evaluate(size).items():
                out[f'{key}/{mode}'] = value
        self.metrics = {}
        return out
