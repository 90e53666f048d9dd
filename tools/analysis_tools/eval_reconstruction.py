# Copyright (c) mmmultimae contributors. All rights reserved.
"""How well does a pre-trained MultiMAE reconstruct? Numbers for the demo.

On the first ``--num-samples`` samples of a dataset (center crops, fixed
masks), for three predictors - a constant baseline, the model at
initialisation and the checkpoint - it prints:

1. the masked-token loss of every decoder with masks drawn from the
   model's own sampler (the training objective);
2. with only the first input modality visible (e.g. RGB, every other input
   fully masked): the loss of every decoder of another modality (depth L1
   on standardised depth, semseg cross-entropy) and the semseg pixel
   accuracy.

The constant baseline predicts, for every pixel, the value that best fits
the whole evaluation set under the decoder's loss: the per-channel mean
(MSE; of the per-patch standardised target for ``norm_target`` losses),
the per-channel median (L1), the class frequencies (cross-entropy; the
majority class for accuracy). It needs no training, so a model that does
not beat it has learned nothing about the scenes.

Example::

    python tools/analysis_tools/eval_reconstruction.py \\
        configs/multimae/multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py \\
        work_dirs/demo/epoch_16.pth --data-root data/synthetic_scenes/val
"""
import argparse
import json
from typing import Dict, List, Optional

import torch
from mmengine.config import Config, DictAction

from mmmultimae.apis import (build_eval_dataset, init_pretrain_model,
                             load_batch, masks_from_spec, preprocess,
                             sample_masks)
from mmmultimae.models.heads import SemSegReconstructionHead
from mmmultimae.models.losses import MaskedL1Loss


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Masked-reconstruction losses of a checkpoint vs. its '
        'initialisation and a constant baseline')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--data-root',
        help='folder holding the modality folders (default: the dataset '
        'of the config)')
    parser.add_argument(
        '--num-samples', type=int, default=64, help='samples to evaluate')
    parser.add_argument(
        '--batch-size', type=int, default=16, help='batch size')
    parser.add_argument('--seed', type=int, default=0, help='mask seed')
    parser.add_argument(
        '--init-seed',
        type=int,
        default=0,
        help='seed of the initialised model')
    parser.add_argument('--out-json', help='also write the numbers here')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='device')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args(argv)


def _baseline_kind(head) -> str:
    if isinstance(head, SemSegReconstructionHead):
        return 'prior'
    if isinstance(head.loss_module, MaskedL1Loss):
        return 'median'
    return 'mean'


def fit_constant(model, name: str,
                 targets: List[torch.Tensor]) -> torch.Tensor:
    """The constant prediction of head ``name`` (one value per output
    channel) that best fits the targets under its loss.

    Args:
        model: The ``MultiMAE``.
        name (str): Head name.
        targets (list[Tensor]): Target images/label maps of every batch.

    Returns:
        Tensor: ``(C, )`` values (logits for cross-entropy).
    """
    head = model.heads[name]
    channels = head.out_channels
    kind = _baseline_kind(head)
    if kind == 'prior':
        labels = torch.cat([t.flatten() for t in targets]).long()
        ignore = head.loss_module.ignore_index
        labels = labels[(labels >= 0) & (labels < channels)
                        & (labels != ignore)]
        counts = torch.bincount(labels, minlength=channels).float()
        return torch.log(counts / counts.sum() + 1e-8)
    # per-patch standardised already for norm_target heads
    patches = torch.cat([head.target_patches(t).float() for t in targets])
    values = patches.reshape(-1, channels, patches.shape[-1] // channels)
    values = values.transpose(0, 1).reshape(channels, -1)
    if kind == 'median':
        return values.median(dim=1).values
    return values.mean(dim=1)


def constant_patches(model, name: str, value: torch.Tensor,
                     like: torch.Tensor) -> torch.Tensor:
    """Patch tokens ``(B, N, C * ph * pw)`` holding ``value`` per channel,
    shaped like the head's prediction for a target ``like``."""
    head = model.heads[name]
    patches = head.target_patches(like)
    batch, tokens = patches.shape[:2]
    ph, pw = head.patch_size
    pred = value.to(like.device).float().view(1, 1, -1, 1).expand(
        batch, tokens, -1, ph * pw)
    return pred.reshape(batch, tokens, -1)


class Evaluator:
    """Accumulates per-head losses (and semseg accuracy) over batches."""

    def __init__(self) -> None:
        self.sums: Dict[str, float] = {}
        self.counts: Dict[str, int] = {}

    def add(self, key: str, value: float, weight: int) -> None:
        self.sums[key] = self.sums.get(key, 0.) + float(value) * weight
        self.counts[key] = self.counts.get(key, 0) + weight

    def result(self) -> Dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums}


@torch.no_grad()
def evaluate(model, batches: List[dict], masks: List[dict], names: List[str],
             constants: Optional[Dict[str, torch.Tensor]]) -> Dict[str, float]:
    """Mean losses of ``names`` (and semseg accuracy) over the batches.

    Args:
        model: The ``MultiMAE`` (the predictor when ``constants`` is None;
            else only its heads' losses and patch sizes are used).
        batches (list[dict]): Preprocessed batches.
        masks (list[dict]): Masks per batch.
        names (list[str]): Heads to report.
        constants (dict, optional): Constant per-channel predictions.

    Returns:
        dict[str, float]: ``loss_<name>`` (and ``acc_<name>`` for
        label heads).
    """
    acc = Evaluator()
    for data, mask in zip(batches, masks):
        inputs = data['inputs']
        batch = next(iter(inputs.values())).shape[0]
        if constants is None:
            preds = model(inputs, mode='tensor', masks=mask)['preds']
        else:
            preds = {
                n: constant_patches(model, n, constants[n],
                                    inputs[model.heads[n].target])
                for n in names
            }
        for name in names:
            head = model.heads[name]
            acc.add(f'loss_{name}', head.loss(preds[name], inputs, mask),
                    batch)
            if isinstance(head, SemSegReconstructionHead):
                target = head.target_patches(inputs[head.target])
                token_mask = mask[head.target]
                b, n, p = target.shape
                labels = preds[name].float().reshape(b, n, -1, p).argmax(dim=2)
                hit = (labels == target)[token_mask]
                acc.add(f'acc_{name}', hit.float().mean(), batch)
    return acc.result()


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.num_samples < 1 or args.batch_size < 1:
        raise SystemExit('--num-samples and --batch-size must be >= 1')
    trained = init_pretrain_model(cfg, args.checkpoint, args.device)
    initial = init_pretrain_model(cfg, None, args.device, seed=args.init_seed)
    dataset = build_eval_dataset(cfg, args.data_root)
    count = min(args.num_samples, len(dataset))
    batches = [
        preprocess(
            trained,
            load_batch(dataset, range(i, min(i + args.batch_size, count))))
        for i in range(0, count, args.batch_size)
    ]
    names = list(trained.heads)
    first = trained.input_modalities[0]

    sampled = [
        sample_masks(trained, b['inputs'], args.seed + i)
        for i, b in enumerate(batches)
    ]
    only_first = [
        masks_from_spec(trained, b['inputs'], {first: 'visible'}, 0)
        for b in batches
    ]
    cross = [n for n in names if trained.heads[n].target != first]

    constants = {
        n:
        fit_constant(trained, n,
                     [b['inputs'][trained.heads[n].target] for b in batches])
        for n in names
    }
    table = {}
    for label, masks, keys in (('masked', sampled, names),
                               (f'{first}_only', only_first, cross)):
        if not keys:
            continue
        table[label] = {
            'baseline': evaluate(trained, batches, masks, keys, constants),
            'init': evaluate(initial, batches, masks, keys, None),
            'trained': evaluate(trained, batches, masks, keys, None),
        }

    root = args.data_root or cfg.train_dataloader.dataset.get('data_root', '')
    print(f'Reconstruction on {count} samples of {root} '
          f'({trained.mask_sampler!r}, mask seed {args.seed})')
    header = f'{"":34s}{"baseline":>10s}{"init":>10s}{"trained":>10s}'
    for label, columns in table.items():
        title = ('masked tokens, sampled masks'
                 if label == 'masked' else f'only {first} visible')
        print(f'\n{title}\n{header}')
        for key in columns['trained']:
            row = ''.join(f'{columns[c][key]:10.4f}'
                          for c in ('baseline', 'init', 'trained'))
            print(f'  {key:32s}{row}')
    result = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        num_samples=count,
        data_root=root,
        **table)
    if args.out_json:
        with open(args.out_json, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'\nwritten: {args.out_json}')
    return result


if __name__ == '__main__':
    main()
