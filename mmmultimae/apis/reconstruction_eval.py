# Copyright (c) mmmultimae contributors. All rights reserved.
"""Held-out evaluation of a masked pre-training model, sample by sample.

One implementation for :class:`~mmmultimae.engine.runners.
MaskedReconstructionValLoop` (during training) and
``tools/analysis_tools/eval_reconstruction.py`` (a checkpoint), so both
report the same numbers. For every sample it computes statistics that sum
over a set (:func:`evaluate_batch`), which
:func:`~mmmultimae.evaluation.reduce_reconstruction_records` turns into
scores; the scores therefore depend neither on the batch size nor on how
the set is sharded over processes. Two passes per batch:

1. **masked**: masks from the model's own sampler, drawn per sample from a
   generator seeded by ``(seed, sample_idx)`` (:func:`fixed_masks`): the
   same masks at every evaluation, after a resume and on any number of
   ranks. Statistics: every head's masked-token loss (its own loss
   module), the pixel accuracy of label heads on masked tokens.
2. **cross-modal**: only ``cross_inputs`` visible (e.g. RGB), every other
   input fully masked. Statistics of the heads whose target is hidden:
   loss; accuracy and class areas (mIoU) of label heads; for depth heads
   (one channel, standardised per sample by the preprocessor) the L1 error
   and δ1 in the input's units, the prediction de-standardised with the
   ground truth's own statistics. The pooled encoder features of this pass
   (mean of the tokens, global token) feed the k-NN monitor.

Everything is also computed for the best constant prediction
(:func:`fit_constants`, under ``baseline/``): the per-channel mean (MSE;
of the per-patch standardised target for ``norm_target`` heads), median
(L1) or class frequencies (cross-entropy) of the targets of the first
samples of the set. A model that does not beat it has learned nothing
about the scenes.
"""
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from mmmultimae.evaluation.functional import class_areas
from mmmultimae.evaluation.metrics.depth_metric import depth_error_sums
from mmmultimae.models.data_preprocessors import (depth_statistics,
                                                  unstandardize_depth)
from mmmultimae.models.heads import (PixelReconstructionHead,
                                     SemSegReconstructionHead)
from mmmultimae.models.losses import MaskedL1Loss
from .reconstruction import masks_from_spec, unwrap_model

Masks = Dict[str, Tensor]

#: Samples (the first of the set) whose targets fit the constant baseline.
BASELINE_FIT_SAMPLES = 256


def mask_seed(seed: int, sample_idx: int) -> int:
    """A 63-bit seed of the masks of sample ``sample_idx``.

    numpy's ``SeedSequence`` hashes ``(seed, sample_idx)``, so neighbouring
    samples and seeds get unrelated streams.
    """
    if seed < 0 or sample_idx < 0:
        raise ValueError(f'seed and sample_idx must be >= 0, got {seed} and '
                         f'{sample_idx}')
    words = np.random.SeedSequence([int(seed),
                                    int(sample_idx)]).generate_state(
                                        2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def fixed_masks(model: nn.Module, inputs: Dict[str, Tensor],
                sample_ids: Sequence[int], seed: int) -> Masks:
    """Masks from the model's own sampler, one private generator per sample.

    Sample ``i``'s masks depend only on ``(seed, sample_ids[i])`` and the
    model's sampler: not on the batch, the rank, the global RNG or how often
    they were drawn before.

    Args:
        model (nn.Module): The ``MultiMAE`` (possibly wrapped).
        inputs (dict[str, Tensor]): Preprocessed batch ``(B, ...)``.
        sample_ids (Sequence[int]): Dataset index of every sample.
        seed (int): Seed of the evaluation.

    Returns:
        dict[str, Tensor]: ``(B, N_m)`` bool masks, True = masked, on the
        inputs' device.
    """
    model = unwrap_model(model)
    batch = next(iter(inputs.values())).shape[0]
    if len(sample_ids) != batch:
        raise ValueError(f'{len(sample_ids)} sample ids for a batch of '
                         f'{batch}')
    per_sample = []
    for i, idx in enumerate(sample_ids):
        generator = torch.Generator().manual_seed(mask_seed(seed, idx))
        one = {name: value[i:i + 1] for name, value in inputs.items()}
        per_sample.append(model.sample_masks(one, generator=generator))
    device = next(iter(inputs.values())).device
    return {
        name: torch.cat([m[name] for m in per_sample]).to(device)
        for name in per_sample[0]
    }


def cross_modal_name(visible: Sequence[str]) -> str:
    """Key prefix of the cross-modal pass, e.g. ``'rgb_only'``."""
    return '_'.join(visible) + '_only'


def check_cross_inputs(model: nn.Module,
                       cross_inputs: Sequence[str]) -> Tuple[str, ...]:
    """``cross_inputs`` as a tuple, checked against the model's inputs."""
    model = unwrap_model(model)
    cross_inputs = tuple(cross_inputs)
    unknown = [m for m in cross_inputs if m not in model.input_modalities]
    if not cross_inputs or unknown or \
            len(set(cross_inputs)) != len(cross_inputs):
        raise ValueError(f'cross_inputs {list(cross_inputs)} must be '
                         'distinct input modalities of the model '
                         f'{model.input_modalities}')
    return cross_inputs


def head_kind(model: nn.Module, name: str) -> str:
    """How head ``name`` is scored: ``'label'`` (accuracy, mIoU),
    ``'depth'`` (one channel standardised per sample by the preprocessor:
    L1 and δ1 in the input's units) or ``'pixel'`` (loss only)."""
    model = unwrap_model(model)
    head = model.heads[name]
    if isinstance(head, SemSegReconstructionHead):
        return 'label'
    if isinstance(head, PixelReconstructionHead) and \
            head.out_channels == 1 and not head.norm_target and \
            model.data_preprocessor.standardization(head.target) is not None:
        return 'depth'
    return 'pixel'


def reconstruction_eval_keys(model: nn.Module,
                             cross_inputs: Sequence[str],
                             baseline: bool = True) -> List[str]:
    """The keys :func:`evaluate_batch` writes, in order.

    Args:
        model (nn.Module): The ``MultiMAE`` (possibly wrapped).
        cross_inputs (Sequence[str]): Visible modalities of the
            cross-modal pass.
        baseline (bool): Include the ``baseline/`` keys. Defaults to True.

    Returns:
        list[str]: Keys without a metric prefix, each followed by its
        baseline key.
    """
    model = unwrap_model(model)
    cross_inputs = check_cross_inputs(model, cross_inputs)
    cross = cross_modal_name(cross_inputs)
    scores = dict(label=('acc', 'miou'), depth=('l1', 'delta1'), pixel=())
    keys = []
    for name in model.heads:
        keys.append(f'loss_{name}')
        if head_kind(model, name) == 'label':
            keys.append(f'acc_{name}')
    for name, head in model.heads.items():
        if head.target in cross_inputs:
            continue
        keys.append(f'{cross}/loss_{name}')
        keys.extend(f'{cross}/{score}_{name}'
                    for score in scores[head_kind(model, name)])
    if not baseline:
        return keys
    return [k for key in keys for k in (key, f'baseline/{key}')]


# ----------------------------------------------------------------------
# the constant baseline
# ----------------------------------------------------------------------
def _baseline_kind(head: nn.Module) -> str:
    if isinstance(head, SemSegReconstructionHead):
        return 'prior'
    if isinstance(head.loss_module, MaskedL1Loss):
        return 'median'
    return 'mean'


def fit_constant(model: nn.Module, name: str,
                 targets: Sequence[Tensor]) -> Tensor:
    """The constant prediction of head ``name`` (one value per output
    channel) that best fits the targets under its loss.

    Args:
        model (nn.Module): The ``MultiMAE`` (possibly wrapped).
        name (str): Head name.
        targets (Sequence[Tensor]): Preprocessed target images / label maps
            of every batch.

    Returns:
        Tensor: ``(C, )`` values (log class frequencies for
        cross-entropy).
    """
    head = unwrap_model(model).heads[name]
    channels = head.out_channels
    kind = _baseline_kind(head)
    if kind == 'prior':
        labels = torch.cat([t.flatten() for t in targets]).long()
        ignore = getattr(head.loss_module, 'ignore_index', None)
        keep = (labels >= 0) & (labels < channels)
        if ignore is not None:
            keep &= labels != ignore
        counts = torch.bincount(labels[keep], minlength=channels).float()
        return torch.log(counts / counts.sum().clamp(min=1) + 1e-8)
    # per-patch standardised already for norm_target heads
    patches = torch.cat([head.target_patches(t).float() for t in targets])
    values = patches.reshape(-1, channels, patches.shape[-1] // channels)
    values = values.transpose(0, 1).reshape(channels, -1)
    if kind == 'median':
        return values.median(dim=1).values
    return values.mean(dim=1)


def fit_constants(model: nn.Module,
                  batches: Iterable[Dict[str, Tensor]]) -> Dict[str, Tensor]:
    """:func:`fit_constant` of every head.

    Args:
        model (nn.Module): The ``MultiMAE`` (possibly wrapped).
        batches (Iterable[dict[str, Tensor]]): Preprocessed inputs of the
            samples to fit on (e.g. the first :data:`BASELINE_FIT_SAMPLES`
            of the held-out set).

    Returns:
        dict[str, Tensor]: ``(C,)`` per head, on the CPU.
    """
    model = unwrap_model(model)
    targets: Dict[str, List[Tensor]] = {name: [] for name in model.heads}
    for inputs in batches:
        for name, head in model.heads.items():
            if head.target not in inputs:
                raise KeyError(f'target {head.target!r} of head {name!r} is '
                               f'not in the held-out inputs {list(inputs)}')
            targets[name].append(inputs[head.target].cpu())
    if not any(targets.values()):
        raise ValueError('no samples to fit the constant baseline on')
    return {
        name: fit_constant(model, name, values)
        for name, values in targets.items()
    }


def constant_patches(model: nn.Module, name: str, value: Tensor,
                     like: Tensor) -> Tensor:
    """Patch tokens ``(B, N, C * ph * pw)`` holding ``value`` per channel,
    shaped like the prediction of head ``name`` for the target ``like``."""
    head = unwrap_model(model).heads[name]
    patches = head.target_patches(like)
    batch, tokens = patches.shape[:2]
    ph, pw = head.patch_size
    pred = value.to(like.device).float().view(1, 1, -1, 1).expand(
        batch, tokens, -1, ph * pw)
    return pred.reshape(batch, tokens, -1)


# ----------------------------------------------------------------------
# per-sample statistics
# ----------------------------------------------------------------------
def per_sample_losses(head: nn.Module, pred: Tensor,
                      inputs: Dict[str, Tensor],
                      masks: Masks) -> Tuple[Tensor, Tensor]:
    """The head's loss of every sample on its own, and whether the sample
    counts (it has masked tokens of the target; the loss modules average
    over such samples).

    Each value is what ``head.loss`` gives for a batch of that sample
    alone (the same target patches, token mask and loss module; the target
    is patchified once for the batch).

    Returns:
        tuple[Tensor, Tensor]: float64 ``(B,)`` losses times the 0/1
        weights, and the weights.
    """
    target = head.target_patches(inputs[head.target])
    batch = pred.shape[0]
    mask = masks.get(head.target)
    if mask is None:  # a target that is not an input: all tokens masked
        mask = torch.ones(
            pred.shape[:2], dtype=torch.bool, device=pred.device)
    losses = torch.stack([
        head.loss_module(pred[i:i + 1].float(), target[i:i + 1],
                         mask[i:i + 1]) for i in range(batch)
    ]).double()
    if getattr(head.loss_module, 'loss_on_unmasked', False):
        counted = torch.ones_like(losses)
    else:
        counted = mask.reshape(batch, -1).any(dim=1).double()
    return losses * counted, counted


def _label_patches(head: nn.Module, pred: Tensor,
                   inputs: Dict[str, Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
    """Predicted and true label patches ``(B, N, P)`` and the valid pixels
    (not ``ignore_index``)."""
    target = head.target_patches(inputs[head.target])
    b, n, p = target.shape
    labels = pred.float().reshape(b, n, -1, p).argmax(dim=2)
    ignore = getattr(head.loss_module, 'ignore_index', None)
    valid = torch.ones_like(target, dtype=torch.bool) if ignore is None \
        else target != ignore
    return labels, target, valid


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    """``(B, 2)`` float64 [numerator, denominator] rows."""
    return torch.stack([num.double(), den.double()], dim=1)


def _raw_batch(data_batch: dict, name: str, like: Tensor) -> Tensor:
    """The un-preprocessed ``name`` of a collated batch, stacked like
    ``like``."""
    value = data_batch['inputs'][name]
    raw = value if isinstance(value, Tensor) else torch.stack(list(value))
    raw = raw.to(like.device).float()
    if raw.shape != like.shape:
        raise ValueError(f'{name!r} of shape {tuple(raw.shape)} before and '
                         f'{tuple(like.shape)} after preprocessing: depth '
                         'scores in input units need an unpadded batch')
    return raw


def depth_scores(model: nn.Module, head: nn.Module, pred: Tensor,
                 raw: Tensor) -> Tuple[Tensor, Tensor]:
    """Per-sample L1 error and δ1 of a depth head, in the input's units.

    The prediction (standardised units, the head's target) is mapped back
    with the statistics that standardised the ground truth
    (:func:`~mmmultimae.models.data_preprocessors.depth_statistics` with
    the preprocessor's ``trim`` / ``eps``) and compared with the raw depth
    on its valid pixels (positive and finite; a sample without usable
    statistics has none).

    Args:
        model (nn.Module): The ``MultiMAE`` (its preprocessor).
        head (nn.Module): The depth head.
        pred (Tensor): Predicted patches ``(B, N, ph * pw)``.
        raw (Tensor): Raw depth ``(B, 1, H, W)`` (e.g. metres).

    Returns:
        tuple[Tensor, Tensor]: ``(B, 2)`` float64 [sum, valid pixels] of
        the absolute error and of the pixels with
        ``max(p / t, t / p) < 1.25``.
    """
    config = model.data_preprocessor.standardization(head.target)
    mean, std, usable = depth_statistics(raw, None, **config)
    gt = head.target_patches(raw)
    depth = unstandardize_depth(pred.float(), mean, std)
    valid = (gt > 0) & torch.isfinite(gt) & usable[:, None, None]
    count = valid.flatten(1).sum(dim=1)
    l1 = torch.where(valid, (depth - gt).abs(),
                     torch.zeros_like(gt)).double().flatten(1).sum(dim=1)
    batch = gt.shape[0]
    group = torch.arange(batch, device=gt.device)[:, None, None].expand_as(gt)
    sums = depth_error_sums(depth[valid], gt[valid], group[valid], batch)
    return _ratio(l1, count), _ratio(sums['delta1'], count)


@torch.no_grad()
def evaluate_batch(model: nn.Module,
                   data_batch: dict,
                   seed: int,
                   cross_inputs: Sequence[str],
                   constants: Optional[Dict[str, Tensor]] = None
                   ) -> List[dict]:
    """Per-sample statistics of one collated batch (see the module doc).

    Args:
        model (nn.Module): The ``MultiMAE`` (possibly wrapped), in eval
            mode.
        data_batch (dict): ``pseudo_collate`` output; every data sample
            needs ``sample_idx`` (and ``gt_label`` for the k-NN monitor) in
            its metainfo.
        seed (int): Seed of the masks (:func:`fixed_masks`).
        cross_inputs (Sequence[str]): Visible modalities of the
            cross-modal pass (e.g. ``('rgb',)``).
        constants (dict[str, Tensor], optional): :func:`fit_constants`;
            None skips the baseline.

    Returns:
        list[dict]: Per sample ``sample_idx``, ``gt_label`` (None when
        unknown), ``features`` (``{'mean': (D,), 'global': (D,)}``, CPU
        float32; ``global`` only with global tokens) and ``stats``: per
        key of :func:`reconstruction_eval_keys`, a float64 ``(2,)``
        [numerator, denominator] or, for ``miou`` keys, ``(4, K)`` class
        areas (CPU).
    """
    model = unwrap_model(model)
    cross_inputs = check_cross_inputs(model, cross_inputs)
    data = model.data_preprocessor(data_batch, False)
    inputs, samples = data['inputs'], data['data_samples']
    batch = next(iter(inputs.values())).shape[0]
    if not isinstance(samples, (list, tuple)) or len(samples) != batch:
        raise ValueError('evaluate_batch needs one data sample per input '
                         '(their metainfo holds sample_idx)')
    ids = []
    for sample in samples:
        if 'sample_idx' not in sample.metainfo:
            raise KeyError(
                'a held-out sample has no sample_idx in its metainfo (the '
                'masks are seeded by it); keep it in the meta_keys of '
                'PackMultiModalInputs')
        ids.append(int(sample.metainfo['sample_idx']))
    predictors = [('', None)]
    if constants is not None:
        predictors.append(('baseline/', constants))
    stats: Dict[str, Tensor] = {}

    def predictions(out: dict, constant: Optional[dict]) -> dict:
        if constant is None:
            return out['preds']
        return {
            name: constant_patches(model, name, constant[name],
                                   inputs[head.target])
            for name, head in model.heads.items()
        }

    # 1. masked tokens, the model's own sampler
    masks = fixed_masks(model, inputs, ids, seed)
    out = model(inputs, mode='tensor', masks=masks)
    for prefix, constant in predictors:
        preds = predictions(out, constant)
        for name, head in model.heads.items():
            stats[f'{prefix}loss_{name}'] = _ratio(
                *per_sample_losses(head, preds[name], inputs, masks))
            if head_kind(model, name) != 'label':
                continue
            labels, target, valid = _label_patches(head, preds[name], inputs)
            token_mask = masks.get(head.target)
            if token_mask is not None:
                valid = valid & token_mask[:, :, None]
            hits = ((labels == target) & valid).flatten(1).sum(dim=1)
            stats[f'{prefix}acc_{name}'] = _ratio(
                hits,
                valid.flatten(1).sum(dim=1))

    # 2. only cross_inputs visible
    cross = cross_modal_name(cross_inputs)
    visible = masks_from_spec(model, inputs,
                              {m: 'visible'
                               for m in cross_inputs}, 0)
    out = model(inputs, mode='tensor', masks=visible)
    features = {'mean': model.pool_tokens(out['tokens'], 'mean')}
    if model.encoder.num_global_tokens:
        features['global'] = model.pool_tokens(out['tokens'], 'global')
    for prefix, constant in predictors:
        preds = predictions(out, constant)
        for name, head in model.heads.items():
            if head.target in cross_inputs:
                continue
            key = f'{prefix}{cross}/{{}}_{name}'
            stats[key.format('loss')] = _ratio(
                *per_sample_losses(head, preds[name], inputs, visible))
            kind = head_kind(model, name)
            if kind == 'label':
                labels, target, valid = _label_patches(
                    head, preds[name], inputs)
                hits = ((labels == target) & valid).flatten(1).sum(dim=1)
                stats[key.format('acc')] = _ratio(
                    hits,
                    valid.flatten(1).sum(dim=1))
                stats[key.format('miou')] = class_areas(
                    labels, target, head.out_channels,
                    getattr(head.loss_module, 'ignore_index', None))
            elif kind == 'depth':
                raw = _raw_batch(data_batch, head.target, inputs[head.target])
                stats[key.format('l1')], stats[key.format('delta1')] = \
                    depth_scores(model, head, preds[name], raw)

    keys = reconstruction_eval_keys(model, cross_inputs,
                                    constants is not None)
    if sorted(keys) != sorted(stats):
        raise RuntimeError(f'statistics {sorted(stats)} do not match the '
                           f'planned keys {sorted(keys)}')
    stats = {key: stats[key].cpu() for key in keys}
    features = {k: v.float().cpu() for k, v in features.items()}
    records = []
    for i, sample in enumerate(samples):
        label = sample.metainfo.get('gt_label')
        records.append(
            dict(
                sample_idx=ids[i],
                gt_label=None if label is None else int(label),
                # clones: a pickled view would carry the whole batch
                features={k: v[i].clone()
                          for k, v in features.items()},
                stats={k: v[i].clone()
                       for k, v in stats.items()}))
    return records
