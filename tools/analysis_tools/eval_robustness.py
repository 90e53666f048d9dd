# Copyright (c) mmmultimae contributors. All rights reserved.
"""Robustness of a fine-tuned ImageNet-1K classifier (MultiMAE Table 9).

Evaluates the model unmodified (its config's test pipeline) on ImageNet-1K
val, ImageNet-A, ImageNet-C (mCE, AlexNet-normalised), ImageNet-R and
ImageNet-Sketch in their published folder layouts under ``--data-root``::

    ROOT/imagenet/val/<wnid>/<file>        (or meta/val.txt + val/<file>)
    ROOT/imagenet-a/<wnid>/<file>          200 classes: scores restricted
    ROOT/imagenet-r/<wnid>/<file>          200 classes: scores restricted
    ROOT/imagenet-sketch/<wnid>/<file>
    ROOT/imagenet-c/<corruption>/<severity>/<wnid>/<file>

prints the Table 9 row and writes a JSON file. A missing dataset is an
error naming it, unless ``--skip-missing``.

With ``--corrupt-val`` it instead evaluates the config's own test set, clean
and under the ImageNet-C corruptions applied on the fly (e.g. the synthetic
scenes), and prints the accuracy per corruption and severity.

Examples::

    python tools/analysis_tools/eval_robustness.py CONFIG CKPT \\
        --data-root data --out-json work_dirs/robustness.json
    python tools/analysis_tools/eval_robustness.py CONFIG CKPT \\
        --corrupt-val --corruptions all --severities 1 3 5
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys

import torch
from mmengine.config import Config, DictAction

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmultimae.apis.robustness import DATASET_NAMES  # noqa: E402
from mmmultimae.apis.robustness import evaluate_corrupted_val  # noqa: E402
from mmmultimae.apis.robustness import evaluate_robustness  # noqa: E402
from mmmultimae.apis.robustness import format_corrupt_val  # noqa: E402
from mmmultimae.apis.robustness import format_table9  # noqa: E402
from mmmultimae.apis.robustness import parse_corruptions  # noqa: E402
from mmmultimae.apis.robustness import parse_paths  # noqa: E402
from mmmultimae.apis.robustness import reference_from_json  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Evaluate a classifier on ImageNet-1K / -A / -C / -R / '
        '-Sketch (Table 9), or on corruptions of its own test set')
    parser.add_argument('config', help='classifier config')
    parser.add_argument('checkpoint', help='fine-tuned checkpoint')
    parser.add_argument(
        '--data-root', help='folder of imagenet, imagenet-a, imagenet-r, '
        'imagenet-sketch, imagenet-c')
    parser.add_argument(
        '--datasets',
        nargs='+',
        default=list(DATASET_NAMES),
        choices=DATASET_NAMES,
        help='datasets to evaluate (default: all)')
    parser.add_argument(
        '--paths',
        nargs='+',
        default=[],
        metavar='NAME=DIR',
        help='folder of a dataset, instead of --data-root/<default name>')
    parser.add_argument(
        '--skip-missing',
        action='store_true',
        help='skip (and report) missing datasets instead of failing')
    parser.add_argument(
        '--corrupt-val',
        action='store_true',
        help="evaluate the config's test set under on-the-fly corruptions")
    parser.add_argument(
        '--corruptions',
        nargs='+',
        help='corruptions (names, or common = the 15 of the mCE [default], '
        'extra = the 4 held-out ones, all = the 19)')
    parser.add_argument(
        '--severities',
        nargs='+',
        type=int,
        default=[1, 2, 3, 4, 5],
        help='severities (default 1..5)')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of --corrupt-val')
    parser.add_argument(
        '--reference-json',
        help='--corrupt-val output of a reference model: normalise the '
        'corruption errors by its errors (CE, mCE, relative mCE)')
    parser.add_argument('--out-json', help='write the results here')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='torch device (default: cuda if available)')
    parser.add_argument('--batch-size', type=int, help='override')
    parser.add_argument('--num-workers', type=int, help='override')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    args = parser.parse_args(argv)
    if args.corrupt_val and args.data_root:
        parser.error('--corrupt-val evaluates the config\'s test set; it '
                     'takes no --data-root')
    if not args.corrupt_val and not (args.data_root or args.paths):
        parser.error('give --data-root (or --paths), or --corrupt-val')
    if args.reference_json and not args.corrupt_val:
        parser.error('--reference-json goes with --corrupt-val (ImageNet-C '
                     'is normalised by AlexNet)')
    try:
        args.paths = parse_paths(args.paths)
        args.corruptions = parse_corruptions(args.corruptions)
    except ValueError as err:
        parser.error(str(err))
    return args


def _commit() -> str:
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                              cwd=osp.dirname(osp.abspath(__file__)),
                              capture_output=True,
                              text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    overrides = {}
    if args.batch_size is not None:
        overrides['batch_size'] = args.batch_size
    if args.num_workers is not None:
        overrides['num_workers'] = args.num_workers
    commit = _commit()
    print(f'config {args.config}, checkpoint {args.checkpoint}, device '
          f'{args.device}, torch {torch.__version__}, commit {commit}')

    if args.corrupt_val:
        reference = None
        if args.reference_json:
            with open(args.reference_json) as f:
                reference = reference_from_json(json.load(f))
        results = evaluate_corrupted_val(
            cfg,
            args.checkpoint,
            corruptions=args.corruptions,
            severities=args.severities,
            seed=args.seed,
            reference=reference,
            device=args.device,
            dataloader_overrides=overrides)
        print(format_corrupt_val(results))
    else:
        results = evaluate_robustness(
            cfg,
            args.checkpoint,
            args.data_root,
            datasets=args.datasets,
            paths=args.paths,
            corruptions=args.corruptions,
            severities=args.severities,
            skip_missing=args.skip_missing,
            device=args.device,
            dataloader_overrides=overrides)
        for name, path in results['skipped'].items():
            print(f'skipped {name}: {path} not found')
        print(format_table9(results))

    results.update(
        config=args.config,
        checkpoint=args.checkpoint,
        device=args.device,
        torch=torch.__version__,
        commit=commit,
        command=' '.join(sys.argv))
    if args.out_json:
        os.makedirs(osp.dirname(osp.abspath(args.out_json)), exist_ok=True)
        with open(args.out_json, 'w') as f:
            json.dump(results, f, indent=1)
        print(f'wrote {args.out_json}')
    return results


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, OSError, ValueError, KeyError) as error:
        # bad input (missing datasets, unreadable files, unknown wnids...):
        # the message names it; no traceback
        print(f'eval_robustness.py: error: {error}', file=sys.stderr)
        sys.exit(1)
