# Copyright (c) mmmultimae contributors. All rights reserved.
"""Masked-reconstruction figures of a pre-trained MultiMAE.

Layouts (``--layout``, several allowed; default: all three):

- ``visible-sweep`` (supplementary Fig. 3): one figure per image; columns
  are increasing numbers of visible tokens (``--visible``, masks drawn with
  the model's sampler), rows the masked input and the prediction of every
  modality, the last column the ground truth.
- ``random-masks`` (supplementary Fig. 5): per image, three random masks
  with the training budget; columns masked input / prediction per mask,
  then the ground truth.
- ``custom``: user-chosen masks (``--mask-spec``), e.g. the default
  ``rgb=visible`` (all rgb tokens visible, every other input fully masked:
  predict depth and semseg from RGB); columns masked input, prediction,
  ground truth.

IMAGES name samples of the config's training dataset (or of the
``root/<modality>/<class>/<file>`` folder given by ``--data-root``): a path
to a file of the first modality (rgb), that path relative to the rgb
folder (``<class>/<file>``, extension optional), or a unique file stem.
The other modalities are found the way the dataset pairs them. Images are
center-cropped to a square and resized to the training crop size.

Example::

    python tools/visualize_reconstruction.py \\
        configs/multimae/multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py \\
        work_dirs/demo/epoch_16.pth scene_0000003 gallery/scene_0000004 \\
        --data-root data/synthetic_scenes/val --out work_dirs/demo/figures
"""
import argparse
import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
import torch
from mmengine.config import Config, DictAction
from PIL import Image

from mmmultimae.apis import (TileRenderer, build_eval_dataset, find_samples,
                             init_pretrain_model, load_batch, masks_from_spec,
                             parse_mask_spec, predict, preprocess,
                             sample_masks)
from mmmultimae.visualization import make_grid, stack_vertically

LAYOUTS = ('visible-sweep', 'random-masks', 'custom')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Masked-reconstruction figures of a pre-trained '
        'MultiMAE (supplementary Fig. 3 / Fig. 5 layouts, custom masks)')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        'images',
        nargs='+',
        help='samples: rgb file path, <class>/<file> relative to the rgb '
        'folder (extension optional) or a unique file stem')
    parser.add_argument(
        '--data-root',
        help='folder holding the modality folders (default: the dataset '
        'of the config)')
    parser.add_argument(
        '--layout',
        nargs='+',
        choices=LAYOUTS,
        default=list(LAYOUTS),
        help='figures to draw (default: all)')
    parser.add_argument(
        '--visible',
        type=int,
        nargs='+',
        help='numbers of visible tokens of the visible-sweep (default: 1/4, '
        '1/2, 1, 3/2 and 2 times the training budget, capped at all '
        'tokens)')
    parser.add_argument(
        '--num-masks',
        type=int,
        default=3,
        help='random masks per image of the random-masks layout')
    parser.add_argument(
        '--mask-spec',
        nargs='+',
        default=['rgb=visible'],
        help='custom masks: MODALITY=visible|masked|N (N random visible '
        'tokens); input modalities not named are fully masked. Default: '
        'rgb=visible')
    parser.add_argument('--seed', type=int, default=0, help='mask seed')
    parser.add_argument(
        '--out',
        default='work_dirs/reconstruction',
        help='output folder of the PNGs')
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


def default_sweep(budget: int, total: int) -> List[int]:
    """1/4, 1/2, 1, 3/2 and 2 times the training budget, within
    ``[1, total]``, without duplicates."""
    values = sorted({
        min(total, max(1, int(round(budget * f))))
        for f in (0.25, 0.5, 1.0, 1.5, 2.0)
    })
    return values


class Figures:
    """Draws the layouts for one model and one dataset."""

    def __init__(self, model, dataset, seed: int) -> None:
        self.model = model
        self.dataset = dataset
        self.seed = seed
        self.renderer = TileRenderer(
            model, metainfo=getattr(dataset, 'metainfo', None))

    def _one(self, batch: dict, masks: Dict[str, torch.Tensor]):
        inputs, results = predict(self.model, batch, masks)
        return self.renderer.tiles(inputs, results[0], 0)

    def visible_sweep(self, batch: dict, counts: Sequence[int],
                      title: str) -> np.ndarray:
        inputs = preprocess(self.model, batch)['inputs']
        columns, gts = [], None
        for count in counts:
            masks = sample_masks(self.model, inputs, self.seed, count)
            tiles = self._one(batch, masks)
            columns.append([(masked, pred) for masked, pred, _ in tiles])
            gts = [gt for _, _, gt in tiles]
        rows, labels = [], []
        for r, name in enumerate(self.renderer.row_labels):
            rows.append([col[r][0] for col in columns] + [None])
            rows.append([col[r][1] for col in columns] + [gts[r]])
            labels += [f'{name} input', f'{name} pred']
        headers = [f'{c} visible' for c in counts] + ['ground truth']
        return make_grid(rows, labels, headers, title=title)

    def random_masks(self, batch: dict, num_masks: int,
                     title: str) -> np.ndarray:
        inputs = preprocess(self.model, batch)['inputs']
        per_mask = []
        for k in range(num_masks):
            masks = sample_masks(self.model, inputs, self.seed + k)
            per_mask.append(self._one(batch, masks))
        rows = []
        for r in range(len(self.renderer.rows)):
            row = []
            for tiles in per_mask:
                row += [tiles[r][0], tiles[r][1]]
            rows.append(row + [per_mask[0][r][2]])
        headers = []
        for k in range(num_masks):
            headers += [f'mask {k + 1} input', f'mask {k + 1} pred']
        return make_grid(
            rows,
            self.renderer.row_labels,
            headers + ['ground truth'],
            title=title)

    def custom(self, batch: dict, spec: dict, title: str) -> np.ndarray:
        inputs = preprocess(self.model, batch)['inputs']
        masks = masks_from_spec(self.model, inputs, spec, self.seed)
        tiles = self._one(batch, masks)
        return make_grid([list(t) for t in tiles],
                         self.renderer.row_labels,
                         ['masked input', 'prediction', 'ground truth'],
                         title=title)


def stem_of(dataset, index: int) -> str:
    first = next(iter(dataset.get_data_info(index)['img_path'].values()))
    return osp.splitext(osp.basename(first))[0]


def main(argv=None) -> List[str]:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.num_masks < 1:
        raise SystemExit('--num-masks must be >= 1')
    spec = parse_mask_spec(args.mask_spec)
    model = init_pretrain_model(cfg, args.checkpoint, args.device)
    dataset = build_eval_dataset(cfg, args.data_root)
    indices = find_samples(dataset, args.images)
    figures = Figures(model, dataset, args.seed)
    os.makedirs(args.out, exist_ok=True)

    written = []
    sweep_counts = None
    if 'visible-sweep' in args.layout:
        inputs = preprocess(model, load_batch(dataset, indices[:1]))['inputs']
        total = model.token_layout(inputs).total_tokens
        sweep_counts = args.visible or default_sweep(model.num_visible, total)
        bad = [c for c in sweep_counts if not 0 <= c <= total]
        if bad:
            raise SystemExit(f'--visible {bad}: the model has {total} input '
                             'tokens')

    custom_blocks, random_blocks = [], []
    for index in indices:
        batch = load_batch(dataset, [index])
        stem = stem_of(dataset, index)
        if sweep_counts is not None:
            path = osp.join(args.out, f'{stem}_visible-sweep.png')
            Image.fromarray(figures.visible_sweep(batch, sweep_counts,
                                                  stem)).save(path)
            written.append(path)
        if 'random-masks' in args.layout:
            random_blocks.append(
                figures.random_masks(batch, args.num_masks, stem))
        if 'custom' in args.layout:
            custom_blocks.append(figures.custom(batch, spec, stem))
    if random_blocks:
        path = osp.join(args.out, 'random-masks.png')
        Image.fromarray(stack_vertically(random_blocks)).save(path)
        written.append(path)
    if custom_blocks:
        name = '_'.join(f'{k}-{v}' for k, v in spec.items()) or 'all-masked'
        path = osp.join(args.out, f'custom_{name}.png')
        Image.fromarray(stack_vertically(custom_blocks)).save(path)
        written.append(path)
    for path in written:
        print(path)
    return written


if __name__ == '__main__':
    main()
