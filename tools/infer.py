# Copyright (c) mmmultimae contributors. All rights reserved.
"""Run a MultiMAE, segmentation, depth (or other MultiViT) model on images.

INPUT (one or more):

- an image file: one sample of the modality ``--modalities`` names (one;
  default rgb);
- ``MODALITY=PATH[,MODALITY=PATH...]``: one sample given as several aligned
  files, e.g. ``rgb=a.jpg,depth=a_depth.png`` (paths without commas);
- a folder laid out as our datasets, ``<root>/<modality>/<...>/<stem>.<ext>``
  (e.g. a synthetic-scenes or pseudo-labelled split): the files are paired
  by their path relative to the modality folder; ``--modalities`` picks
  the folders to feed (default: every modality folder the model reads);
- any other folder: every image file under it (recursive) is one sample.

A pre-trained MultiMAE gets any subset of its modalities (fully visible by
default; ``--mask-spec`` / ``--num-visible`` mask tokens) and predicts
every modality it has a decoder for; a fine-tuned segmentor or depth
estimator needs the modalities its backbone reads. Outputs, per input
``NAME`` (the file stem, or the path inside a folder without extension):

- ``OUT/<prediction>/NAME.png``: rgb as is, class ids as a palette PNG
  (16-bit grey above 256 classes), float maps colourised (depth) or min-max
  scaled, plus their values in ``NAME.npy`` (depth in the input's units when
  depth was given with visible tokens, else standardised: see
  ``MultiMAEInferencer``);
- ``SHOW_DIR/NAME.png`` with ``--show-dir``: a figure (the reconstruction
  figures' layout for MultiMAE; inputs and predictions otherwise).

Example::

    python tools/infer.py \\
        configs/multimae/multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py \\
        work_dirs/demo/epoch_6.pth data/synthetic_scenes/val \\
        --modalities rgb --out work_dirs/demo/infer --show-dir \\
        work_dirs/demo/infer/figures --batch-size 16
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.utils import ProgressBar
from PIL import Image

from mmmultimae.apis import (MultiMAEInferencer, collect_inputs,
                             parse_mask_spec, save_predictions)

#: Inputs handed to the inferencer per call, in batches (results of one
#: call are written before the next is read).
CALL_BATCHES = 8


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Predictions of a MultiMAE-family model on image files, '
        'modality groups and folders')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        'inputs',
        nargs='+',
        metavar='INPUT',
        help='image file, MODALITY=PATH[,MODALITY=PATH...] group, or folder '
        '(<root>/<modality>/... layout or plain images, recursive)')
    parser.add_argument(
        '--modalities',
        nargs='+',
        help='modalities to feed: folders of a layout, keys of groups; the '
        'modality of plain image files (one; default rgb)')
    parser.add_argument(
        '--mask-spec',
        nargs='+',
        help='MultiMAE token masks: MODALITY=visible|masked|N (N random '
        'visible tokens); given modalities not named are masked. Default: '
        'every given modality visible')
    parser.add_argument(
        '--num-visible',
        type=int,
        help='MultiMAE: draw masks with the model\'s sampler and this many '
        'visible tokens instead of --mask-spec')
    parser.add_argument(
        '--image-size',
        type=int,
        nargs='+',
        help='MultiMAE: H [W] the inputs are resized to (default: the size '
        'of its position tables)')
    parser.add_argument(
        '--depth-scale',
        type=float,
        help='factor applied to depth files (default: the config\'s '
        'LoadMultiModalImages depth_scale)')
    parser.add_argument(
        '--out', default='work_dirs/infer', help='folder of the predictions')
    parser.add_argument('--show-dir', help='folder of the figures')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='device')
    parser.add_argument('--seed', type=int, default=0, help='mask seed')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args(argv)


def gather_inputs(inputs: List[str], modalities: Optional[List[str]],
                  known: List[str]) -> List[Tuple[str, Dict[str, str]]]:
    """``(name, {modality: path})`` of every sample of the INPUT
    arguments, with unique names."""
    if modalities is not None and len(modalities) != len(set(modalities)):
        raise ValueError(f'--modalities {modalities} names a modality twice')
    default = modalities[0] if modalities else 'rgb'
    samples, plain = [], []
    for item in inputs:
        found = collect_inputs(
            item, modalities, known_modalities=known, default_modality=default)
        samples += found
        if osp.isfile(item) or (osp.isdir(item) and not any(
                osp.isdir(osp.join(item, m)) for m in known)):
            plain.append(item)
    if plain and modalities is not None and len(modalities) != 1:
        raise ValueError(f'plain image inputs {plain[:3]} are one modality; '
                         f'--modalities gives {modalities}')
    owners: Dict[str, Dict[str, str]] = {}
    for name, paths in samples:
        if name in owners:
            raise ValueError(
                f'two inputs would write the same outputs {name!r}: '
                f'{owners[name]} and {paths}; give their common folder '
                'instead')
        owners[name] = paths
    return samples


def main(argv=None) -> List[str]:
    """Run the tool; returns the files written."""
    args = parse_args(argv)
    try:
        return run(args)
    except (ValueError, TypeError, KeyError, OSError) as err:
        raise SystemExit(f'tools/infer.py: error: {err}') from err


def run(args: argparse.Namespace) -> List[str]:
    if args.batch_size < 1:
        raise ValueError(f'--batch-size must be >= 1, got {args.batch_size}')
    spec = parse_mask_spec(args.mask_spec) if args.mask_spec else None
    if args.image_size is not None and len(args.image_size) not in (1, 2):
        raise ValueError(f'--image-size takes H or H W, got {args.image_size}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    image_size = None if args.image_size is None else (args.image_size * 2)[:2]
    inferencer = MultiMAEInferencer(
        cfg,
        args.checkpoint,
        device=args.device,
        image_size=image_size,
        depth_scale=args.depth_scale)
    if args.modalities:
        unknown = [
            m for m in args.modalities if m not in inferencer.modalities
        ]
        if unknown:
            raise ValueError(f'--modalities {unknown}: the model has no input '
                             f'adapter for them; it reads '
                             f'{inferencer.modalities}')
    samples = gather_inputs(args.inputs, args.modalities,
                            inferencer.modalities)
    bar = ProgressBar(len(samples), file=sys.stderr)
    written, units = [], {}
    step = args.batch_size * CALL_BATCHES
    for start in range(0, len(samples), step):
        part = samples[start:start + step]
        out = inferencer([paths for _, paths in part],
                         batch_size=args.batch_size,
                         mask_spec=spec,
                         num_visible=args.num_visible,
                         seed=args.seed + start,
                         return_vis=bool(args.show_dir))
        for i, (name, _) in enumerate(part):
            written += save_predictions(out['predictions'][i], args.out, name,
                                        inferencer.palette)
            for key, unit in out.get('units', [{}] * len(part))[i].items():
                units.setdefault(key, set()).add(unit)
            if args.show_dir:
                path = osp.join(args.show_dir, name + '.png')
                written.append(path)
                _save_figure(out['visualization'][i], path)
            bar.update()
    sys.stderr.write('\n')
    described = ', '.join(f'{key} ({"/".join(sorted(unit))})'
                          for key, unit in units.items())
    print(f'{len(samples)} inputs -> {args.out}' +
          (f' [{described}]' if described else '') +
          (f', figures in {args.show_dir}' if args.show_dir else ''))
    return written


def _save_figure(figure: np.ndarray, path: str) -> None:
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    Image.fromarray(figure).save(path)


if __name__ == '__main__':
    main()
