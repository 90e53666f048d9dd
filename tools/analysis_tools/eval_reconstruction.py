# Copyright (c) mmmultimae contributors. All rights reserved.
"""How well does a pre-trained MultiMAE reconstruct? Numbers for the demo.

On the first ``--num-samples`` samples of a dataset (center crops), for
three predictors - a constant baseline, the model at initialisation and the
checkpoint - it prints:

1. the masked-token loss of every decoder with masks drawn from the
   model's own sampler (the training objective), seeded per sample, and
   the semseg pixel accuracy on masked tokens;
2. with only the first input modality visible (e.g. RGB, every other input
   fully masked): the loss of every decoder of another modality (depth L1
   on standardised depth, semseg cross-entropy), depth L1 and delta1 in the
   input's units (metres for the synthetic scenes; the prediction
   de-standardised with the ground truth's own statistics), semseg pixel
   accuracy and mIoU (fractions).

The constant baseline predicts, for every pixel, the value that best fits
the targets of the first samples (at most
``BASELINE_FIT_SAMPLES``) under the decoder's loss: the per-channel mean
(MSE; of the per-patch standardised target for ``norm_target`` losses),
the per-channel median (L1), the class frequencies (cross-entropy; the
majority class for accuracy). It needs no training, so a model that does
not beat it has learned nothing about the scenes.

The numbers come from the code of the held-out evaluation during training
(``MaskedReconstructionValLoop``, :mod:`mmmultimae.apis.reconstruction_eval`):
on the same samples and checkpoint, the ``trained`` column equals the
``val/recon/...`` metrics of that epoch.

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
                             load_batch, preprocess)
from mmmultimae.apis.reconstruction_eval import (BASELINE_FIT_SAMPLES,
                                                 cross_modal_name,
                                                 evaluate_batch, fit_constants)
from mmmultimae.evaluation import reduce_reconstruction_records


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


def evaluate(model, batches: List[dict], seed: int, cross: tuple,
             constants: Optional[Dict[str, torch.Tensor]]
             ) -> Dict[str, float]:
    """Scores of ``model`` (and, under ``baseline/``, of the constants
    unless None) over the collated batches."""
    records = []
    for batch in batches:
        records += evaluate_batch(model, batch, seed, cross, constants)
    return reduce_reconstruction_records(records)


def split_table(scores: Dict[str, Dict[str, float]],
                cross_name: str) -> Dict[str, Dict[str, Dict[str, float]]]:
    """``{'init': {...}, 'trained': {...}}`` (baseline keys inside) as
    ``{'masked' | cross_name: {'baseline' | 'init' | 'trained': {key:
    value}}}`` with the pass prefix dropped from the keys."""
    table: Dict[str, Dict[str, Dict[str, float]]] = {}
    for column, values in scores.items():
        for key, value in values.items():
            baseline = key.startswith('baseline/')
            key = key[len('baseline/'):] if baseline else key
            group, _, name = key.rpartition('/')
            group = group or 'masked'
            if group != 'masked' and group != cross_name:
                raise ValueError(f'unexpected key {key!r}')
            col = 'baseline' if baseline else column
            table.setdefault(group, {}).setdefault(col, {})[name] = value
    return table


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.num_samples < 1 or args.batch_size < 1:
        raise SystemExit('--num-samples and --batch-size must be >= 1')
    if args.seed < 0:
        raise SystemExit('--seed must be >= 0')
    trained = init_pretrain_model(cfg, args.checkpoint, args.device)
    initial = init_pretrain_model(cfg, None, args.device, seed=args.init_seed)
    dataset = build_eval_dataset(cfg, args.data_root)
    count = min(args.num_samples, len(dataset))
    batches = [
        load_batch(dataset, range(i, min(i + args.batch_size, count)))
        for i in range(0, count, args.batch_size)
    ]
    fit = min(count, BASELINE_FIT_SAMPLES)
    constants = fit_constants(trained, [
        preprocess(trained, load_batch(dataset, range(i, min(
            i + args.batch_size, fit))))['inputs']
        for i in range(0, fit, args.batch_size)
    ])
    first = trained.input_modalities[0]
    cross = (first, )
    # the baseline does not depend on the model: scored once
    scores = {
        label: evaluate(model, batches, args.seed, cross, fitted)
        for label, model, fitted in (('init', initial, None),
                                     ('trained', trained, constants))
    }
    table = split_table(scores, cross_modal_name(cross))

    root = args.data_root or cfg.train_dataloader.dataset.get('data_root', '')
    print(f'Reconstruction on {count} samples of {root} '
          f'({trained.mask_sampler!r}, mask seed {args.seed} per sample; '
          f'constant fitted on {fit} samples)')
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
