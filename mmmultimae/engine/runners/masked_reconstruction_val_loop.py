# Copyright (c) mmmultimae contributors. All rights reserved.
"""Held-out evaluation during masked pre-training (an mmengine ValLoop)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.hooks import CheckpointHook
from mmengine.runner import BaseLoop, ValLoop
from mmengine.runner.amp import autocast
from torch.utils.data import DataLoader

from mmmultimae.apis.reconstruction import load_batch, unwrap_model
from mmmultimae.apis.reconstruction_eval import (BASELINE_FIT_SAMPLES,
                                                 check_cross_inputs,
                                                 evaluate_batch, fit_constants,
                                                 head_kind,
                                                 reconstruction_eval_keys)
from mmmultimae.evaluation.metrics import (KNNAccuracy,
                                           MaskedReconstructionMetric)
from mmmultimae.registry import LOOPS
from ..hooks.reconstruction_visualization_hook import isolated_rng

_METRICS = (MaskedReconstructionMetric, KNNAccuracy)


def _describe(dataset) -> str:
    """The dataset's type and where it reads from, for messages."""
    where = getattr(dataset, 'data_prefix', None) or {}
    where = where.get('img_path') or getattr(dataset, 'data_root', None)
    return f'{type(dataset).__name__}' + (f" at '{where}'" if where else '')


@LOOPS.register_module()
class MaskedReconstructionValLoop(ValLoop):
    """Validation of a masked pre-training model on a fixed held-out set.

    Configured the OpenMMLab way, so that mmengine does the rest: the
    runner calls it every ``train_cfg.val_interval`` epochs (or iterations)
    and at the end, the ``val_evaluator`` metrics are gathered over ranks,
    ``LoggerHook`` writes them to the log and to every vis backend
    (``val/...`` scalars), and ``default_hooks.checkpoint.save_best`` can
    keep the best checkpoint by any of them::

        val_dataloader = dict(dataset=..., sampler=dict(
            type='DefaultSampler', shuffle=False), ...)
        val_cfg = dict(type='MaskedReconstructionValLoop')
        val_evaluator = [dict(type='MaskedReconstructionMetric'),
                         dict(type='KNNAccuracy', k=20)]
        train_cfg = dict(..., val_interval=1)

    Why a loop and not mmengine's ``ValLoop`` (``model.val_step`` ->
    ``predict``) or a hook: the evaluation needs two forward passes with
    masks that are a function of the sample alone (every evaluation, every
    resume and every number of ranks sees the same masks), and a constant
    baseline fitted once on the set, which a ``predict`` that samples its
    masks cannot give; a hook, on the other hand, would have to redo what
    ``ValLoop`` + ``Evaluator`` provide (sharding, ``collect_results``,
    logging, ``save_best``). mmpretrain's ``RetrievalValLoop`` (which
    prepares prototypes before evaluating) is the precedent of such a loop.

    Per batch it runs :func:`~mmmultimae.apis.reconstruction_eval.
    evaluate_batch` (masked tokens with the model's own sampler seeded per
    sample; then only ``cross_inputs`` visible) and hands the per-sample
    records to the metrics (:class:`~mmmultimae.evaluation.
    MaskedReconstructionMetric`, :class:`~mmmultimae.evaluation.
    KNNAccuracy`). Each rank evaluates its shard of the set (mmengine's
    ``DefaultSampler``) and the results are gathered, so the numbers equal
    those of one process (and of ``tools/analysis_tools/
    eval_reconstruction.py`` on the same checkpoint).

    Bad configurations fail when the loop is built, before training:
    metrics other than the two above, ``train_cfg.val_interval < 1``, a
    ``save_best`` key no metric produces, and a held-out set that does not
    fit the model (missing modalities, a number of semseg classes other
    than the model's, no ``sample_idx``, no image labels or fewer than
    ``k + 1`` samples for the k-NN; its first sample is evaluated once).

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The held-out set's loader
            (``shuffle=False``).
        evaluator (Evaluator | dict | list): The metrics.
        mask_seed (int): Seed of the masks. Defaults to 0.
        cross_inputs (Sequence[str], optional): Modalities visible in the
            cross-modal pass. Defaults to the model's first input modality
            (``rgb``: depth and semseg predicted from RGB alone).
        fp16 (bool): Evaluate under autocast. Defaults to False.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Evaluator, Dict, List],
                 mask_seed: int = 0,
                 cross_inputs: Optional[Sequence[str]] = None,
                 fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        model = unwrap_model(runner.model)
        missing = [
            name for name in ('heads', 'sample_masks', 'pool_tokens',
                              'input_modalities') if not hasattr(model, name)
        ]
        if missing:
            raise TypeError(f'MaskedReconstructionValLoop evaluates masked '
                            f'pre-training models (MultiMAE); '
                            f'{type(model).__name__} lacks {missing}')
        if mask_seed < 0:
            raise ValueError(f'mask_seed must be >= 0, got {mask_seed}')
        self.mask_seed = mask_seed
        self.cross_inputs = check_cross_inputs(
            model, cross_inputs or model.input_modalities[:1])
        self._constants: Optional[Dict[str, torch.Tensor]] = None
        self._check_metrics()
        self._check_val_interval()
        self._check_save_best()
        self._check_heldout_set()

    # ------------------------------------------------------------------
    # start-up checks
    # ------------------------------------------------------------------
    def metric_names(self) -> List[str]:
        """Every key the evaluator will report (with its prefix)."""
        model = unwrap_model(self.runner.model)
        names = []
        for metric in self.evaluator.metrics:
            if isinstance(metric, MaskedReconstructionMetric):
                keys = reconstruction_eval_keys(model, self.cross_inputs)
            else:
                keys = ['top1']
            names += [f'{metric.prefix}/{k}' if metric.prefix else k
                      for k in keys]
        return names

    def _check_metrics(self) -> None:
        metrics = self.evaluator.metrics
        foreign = [type(m).__name__ for m in metrics
                   if not isinstance(m, _METRICS)]
        if foreign or not metrics:
            raise TypeError(
                'MaskedReconstructionValLoop feeds per-sample records to '
                'MaskedReconstructionMetric and KNNAccuracy only; the '
                f'val_evaluator has {[type(m).__name__ for m in metrics]}')

    def _check_val_interval(self) -> None:
        # Runner.train() builds the train loop before this one; under
        # Runner.val() it may still be its config dict (or None).
        train_loop = getattr(self.runner, '_train_loop', None)
        if isinstance(train_loop, BaseLoop):
            interval = getattr(train_loop, 'val_interval', 1)
        elif isinstance(train_loop, dict):
            interval = train_loop.get('val_interval', 1)
        else:
            return
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'train_cfg.val_interval must be an integer >= '
                             f'1 (epochs or iterations between held-out '
                             f'evaluations), got {interval!r}')

    def _check_save_best(self) -> None:
        names = self.metric_names()
        for hook in self.runner.hooks:
            if not isinstance(hook, CheckpointHook) or not hook.save_best:
                continue
            unknown = [k for k in hook.save_best
                       if k != 'auto' and k not in names]
            if unknown:
                raise ValueError(
                    f'default_hooks.checkpoint.save_best names {unknown}, '
                    'which no val_evaluator metric produces; they produce '
                    f'{names}')

    def _check_heldout_set(self) -> None:
        model = unwrap_model(self.runner.model)
        dataset = self.dataloader.dataset
        where = _describe(dataset)
        knn = [m for m in self.evaluator.metrics
               if isinstance(m, KNNAccuracy)]
        need = max([m.k + 1 for m in knn], default=1)
        if len(dataset) < need:
            raise ValueError(f'the held-out set ({where}) has '
                             f'{len(dataset)} samples; at least {need} are '
                             'needed (KNNAccuracy k + 1)')
        needed = list(model.input_modalities)
        needed += [h.target for h in model.heads.values()
                   if h.target not in needed]
        with isolated_rng(self.mask_seed):
            sample = dataset[0]
        found = list(sample['inputs'])
        missing = [m for m in needed if m not in found]
        if missing:
            raise ValueError(
                f'the held-out set ({where}) yields the modalities {found}; '
                f'the model needs {needed} (inputs '
                f'{list(model.input_modalities)} and its heads\' targets), '
                f'{missing} missing')
        meta = sample['data_samples'].metainfo
        if 'sample_idx' not in meta:
            raise KeyError(f'the held-out set ({where}) packs no sample_idx '
                           '(the masks are seeded by it): keep it in the '
                           'meta_keys of PackMultiModalInputs')
        classes = dataset.metainfo.get('semseg_classes')
        for name, head in model.heads.items():
            if head_kind(model, name) == 'label' and classes is not None \
                    and len(classes) != head.out_channels:
                raise ValueError(
                    f'the held-out set ({where}) has {len(classes)} '
                    f'semseg_classes, the model\'s head {name!r} predicts '
                    f'{head.out_channels}')
        if knn:
            image_classes = dataset.metainfo.get('classes')
            if 'gt_label' not in meta or not image_classes or \
                    len(image_classes) < 2:
                raise ValueError(
                    f'KNNAccuracy needs image labels: the held-out set '
                    f'({where}) must pack gt_label and name at least 2 '
                    f'classes in its metainfo, got classes {image_classes}')
        was_training = model.training
        model.eval()
        try:
            evaluate_batch(model, pseudo_collate([sample]), self.mask_seed,
                           self.cross_inputs)
        except Exception as error:
            raise RuntimeError(f'the first sample of the held-out set '
                               f'({where}) does not fit the model: '
                               f'{error}') from error
        finally:
            model.train(was_training)

    # ------------------------------------------------------------------
    # evaluation
    # ------------------------------------------------------------------
    def fit_baseline(self) -> Dict[str, torch.Tensor]:
        """Fit the constant baseline on the first
        :data:`~mmmultimae.apis.reconstruction_eval.BASELINE_FIT_SAMPLES`
        held-out samples (every rank on the same samples, so no
        communication; it does not depend on the model's weights)."""
        model = unwrap_model(self.runner.model)
        dataset = self.dataloader.dataset
        count = min(len(dataset), BASELINE_FIT_SAMPLES)
        size = self.dataloader.batch_size or 1
        with isolated_rng(self.mask_seed), torch.no_grad():
            batches = (model.data_preprocessor(
                load_batch(dataset, range(i, min(i + size, count))),
                False)['inputs'] for i in range(0, count, size))
            return fit_constants(model, batches)

    def run(self) -> dict:
        """Evaluate the held-out set; returns the metrics."""
        self.runner.call_hook('before_val')
        self.runner.call_hook('before_val_epoch')
        self.runner.model.eval()
        if self._constants is None:
            self._constants = self.fit_baseline()
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        # mmengine's LogProcessor logs keys matching its mean_pattern
        # ('loss', 'time', ...) as the mean of their last window_size values,
        # which for validation metrics are earlier evaluations: drop those,
        # so the log and the vis backends get this evaluation's numbers.
        history = self.runner.message_hub.log_scalars
        for key in metrics:
            history.pop(f'val/{key}', None)
        self.runner.call_hook('after_val_epoch', metrics=metrics)
        self.runner.call_hook('after_val')
        return metrics

    @torch.no_grad()
    def run_iter(self, idx: int, data_batch: dict) -> None:
        """Evaluate one batch and hand its records to the metrics."""
        self.runner.call_hook(
            'before_val_iter', batch_idx=idx, data_batch=data_batch)
        with autocast(enabled=self.fp16):
            outputs = evaluate_batch(self.runner.model, data_batch,
                                     self.mask_seed, self.cross_inputs,
                                     self._constants)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(
            'after_val_iter',
            batch_idx=idx,
            data_batch=data_batch,
            outputs=outputs)
