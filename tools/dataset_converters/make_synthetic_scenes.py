# Copyright (c) mmmultimae contributors. All rights reserved.
"""Write procedural indoor scenes in the multi-modal ImageFolder layout.

Example::

    python tools/dataset_converters/make_synthetic_scenes.py \
        --out data/synthetic_scenes/train --num-scenes 2000 \
        --image-size 224 --workers 2

Output (read by ``MultiModalImageFolder``)::

    OUT/rgb/<scene type>/scene_<index>.jpg      (or .png with --png)
    OUT/depth/<scene type>/scene_<index>.png    uint16, m = v / 2**16 * 128
    OUT/semseg/<scene type>/scene_<index>.png   palette PNG of class ids
    OUT/normal/<scene type>/scene_<index>.png   uint8 RGB of (n + 1) / 2 * 255
    OUT/synthetic_scenes.json                   settings, classes, encodings

Re-running skips complete scenes (and extends the set if --num-scenes
grew). The renderer and the writer live in
``mmmultimae/datasets/synthetic_scenes.py``.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmultimae.datasets.synthetic import write_synthetic_dataset  # noqa
from mmmultimae.datasets.synthetic.metainfo import CLASSES  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Render synthetic multi-modal indoor scenes (rgb, '
        'depth, semseg, normal) into root/<modality>/<class>/<file>.')
    parser.add_argument('--out', required=True, help='output root folder')
    parser.add_argument(
        '--num-scenes', type=int, default=1000, help='number of scenes')
    parser.add_argument(
        '--image-size',
        type=int,
        nargs='+',
        default=[224],
        metavar='N',
        help='image size: S (square) or H W')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the scene set')
    parser.add_argument(
        '--workers', type=int, default=1, help='worker processes')
    parser.add_argument(
        '--png', action='store_true', help='write rgb as PNG, not JPEG')
    parser.add_argument(
        '--jpeg-quality', type=int, default=95, help='JPEG quality')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if len(args.image_size) not in (1, 2):
        parser.error('--image-size takes S or H W')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    size = args.image_size * 2 if len(args.image_size) == 1 else \
        args.image_size
    start = time.time()
    counts = write_synthetic_dataset(
        args.out,
        args.num_scenes,
        image_size=tuple(size),
        seed=args.seed,
        workers=args.workers,
        rgb_format='png' if args.png else 'jpg',
        jpeg_quality=args.jpeg_quality,
        progress=not args.quiet)
    print(f'{args.out}: wrote {counts["written"]} scenes, skipped '
          f'{counts["skipped"]} complete ones ({time.time() - start:.1f} s); '
          f'{len(CLASSES)} semseg classes: {", ".join(CLASSES)}')


if __name__ == '__main__':
    main()
