# Copyright (c) mmmultimae contributors. All rights reserved.
"""Pseudo-label an image folder into the multi-modal pre-training layout.

Example::

    python tools/dataset_converters/pseudo_label.py data/imagenet/train \\
        data/imagenet_multimae/train \\
        --semseg SEG_CONFIG SEG_CKPT --depth DEPTH_CONFIG DEPTH_CKPT
    # 8 processes (each labels a disjoint slice; a rerun resumes)
    torchrun --nproc-per-node 8 tools/dataset_converters/pseudo_label.py \\
        SRC OUT --semseg ... --depth ... --device cuda

Input ``SRC/<class>/<file>`` (ImageNet layout); output (read by
``MultiModalImageFolder``; encodings in ``mmmultimae/apis/pseudo_label.py``)::

    OUT/rgb/<class>/<file>            the source, copied (or --rgb symlink)
    OUT/depth/<class>/<stem>.png      uint16, m = v / 2**16 * 128
    OUT/semseg/<class>/<stem>.png     palette PNG (16-bit if > 255 classes)
    OUT/pseudo_labels.json            models, classes, encodings

Any mmseg segmentor (ours from rgb or a plain ``EncoderDecoder``) and any
depth model (ours or mmseg's ``DepthEstimator``); at least one of --semseg,
--depth. Images that cannot be read are listed at the end (and in
``OUT/unreadable_images[.rankR-of-W].txt``) and the run goes on; the exit
status is 0 when every readable image is labelled, 1 on an error (bad
model, an output root holding another dataset, ...). Pre-train on the
result with ``train_dataloader.dataset.data_root=OUT`` and the semseg
``num_classes`` of the meta file.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402

from mmmultimae.apis import pseudo_label as labelling  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Label SRC/<class>/<file> images with a segmentor and a '
        'depth model into OUT/{rgb,depth,semseg}/<class>/<stem>.')
    parser.add_argument('src', help='source folder (class sub-folders)')
    parser.add_argument('out', help='output root')
    parser.add_argument(
        '--semseg',
        nargs=2,
        metavar=('CONFIG', 'CHECKPOINT'),
        help='segmentation model')
    parser.add_argument(
        '--depth',
        nargs=2,
        metavar=('CONFIG', 'CHECKPOINT'),
        help='depth model')
    parser.add_argument(
        '--batch-size', type=int, default=8, help='images per model call')
    parser.add_argument(
        '--device',
        default=None,
        help='torch device (default: cuda if available, else cpu; under '
        'torchrun cuda:LOCAL_RANK)')
    parser.add_argument(
        '--rgb',
        choices=['copy', 'symlink'],
        default='copy',
        help='store the rgb files as copies (default) or symlinks')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if not args.semseg and not args.depth:
        parser.error('give --semseg CONFIG CKPT and / or --depth CONFIG CKPT')
    return args


def resolve_device(device) -> str:
    """``--device``, or cuda (this rank's GPU) when there is one."""
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device == 'cuda' and 'LOCAL_RANK' in os.environ:
        device = f"cuda:{os.environ['LOCAL_RANK']}"
    return device


def main(argv=None) -> dict:
    args = parse_args(argv)
    rank = int(os.environ.get('RANK', 0))
    world_size = int(os.environ.get('WORLD_SIZE', 1))
    device = resolve_device(args.device)
    labellers = {
        task:
        labelling.DenseLabeller(task, *getattr(args, task), device=device)
        for task in ('semseg', 'depth') if getattr(args, task)
    }
    stats = labelling.pseudo_label_folder(
        args.src,
        args.out,
        labellers,
        batch_size=args.batch_size,
        rank=rank,
        world_size=world_size,
        rgb_mode=args.rgb,
        progress=not args.quiet)
    who = f'rank {rank}/{world_size}: ' if world_size > 1 else ''
    rate = stats['labelled'] / max(stats['seconds'], 1e-9)
    cpu = stats['cpu_seconds'] / max(stats['labelled'], 1)
    print(f"{who}{stats['images']} images: {stats['labelled']} labelled "
          f'({rate:.2f} images/s on {device}, {cpu:.3f} CPU s per image), '
          f"{stats['skipped']} already done, {len(stats['unreadable'])} "
          f"unreadable -> '{args.out}'")
    if stats['clipped_depth']:
        print(f"{who}{stats['clipped_depth']} depth maps had pixels outside "
              '[0, 128) m, clipped')
    if stats['unreadable']:
        print(f"{who}could not read (listed in '{stats['report']}'):")
        for path, reason in stats['unreadable']:
            print(f'  {path}: {reason}')
    return stats


if __name__ == '__main__':
    main()
