# Copyright (c) mmmultimae contributors. All rights reserved.
"""Convert a timm (or MAE) ViT checkpoint to a MultiViT state dict.

Example:
    python tools/model_converters/timm2mmmultimae.py \
        vit_base_patch16_224.pth checkpoints/multivit-b_from_timm.pth
"""
import argparse

from mmmultimae.apis import key_report, load_into_config_model, save_converted
from mmmultimae.models.converters import timm_to_multivit
from mmmultimae.utils import torch_load_trusting_mmengine


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a timm ViT state dict to MultiViT keys')
    parser.add_argument('src', help='timm checkpoint')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--grid',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='patch grid of pos_embed (needed when it is not square)')
    parser.add_argument(
        '--modality', default='rgb', help='adapter name (default: rgb)')
    parser.add_argument(
        '--config',
        help='report missing/unexpected keys against the MultiViT built '
        'from this config (its backbone/encoder if it has one)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    checkpoint = torch_load_trusting_mmengine(args.src, 'cpu')
    state_dict = timm_to_multivit(checkpoint, args.grid, args.modality)
    print(f'Converted {len(state_dict)} tensors')
    if args.config:
        print(key_report(load_into_config_model(state_dict, args.config,
                                                encoder_only=True)))
    save_converted(state_dict, args.dst, args.src, 'timm2mmmultimae')
    print(f'Saved to {args.dst}')


if __name__ == '__main__':
    main()
