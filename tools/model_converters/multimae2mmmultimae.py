# Copyright (c) mmmultimae contributors. All rights reserved.
"""Convert an official MultiMAE / MultiViT checkpoint to mmmultimae.

Example:
    python tools/model_converters/multimae2mmmultimae.py \
        multimae-b_98_rgb+-depth-semseg_1600e_multivit-afff3f8c.pth \
        checkpoints/multimae-b_1600e.pth --config configs/<pretrain>.py
"""
import argparse

import torch

from mmmultimae.apis import key_report, load_into_config_model, save_converted
from mmmultimae.models.converters import convert_official_multimae
from mmmultimae.utils import torch_load_trusting_mmengine


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official MultiMAE checkpoint (ckpt["model"] '
        'or a bare state dict) to mmmultimae keys')
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--encoder-only',
        action='store_true',
        help='write a bare MultiViT state dict (drops all output adapters, '
        'fine-tuning heads included)')
    parser.add_argument(
        '--config',
        help='build the model of this config and report the missing and '
        'unexpected keys of the converted state dict (its backbone or '
        'encoder with --encoder-only)')
    parser.add_argument(
        '--trust',
        action='store_true',
        help='load src with torch.load(weights_only=False); only for files '
        'of trusted origin (official training checkpoints pickle their '
        'argparse arguments)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.trust:
        checkpoint = torch.load(
            args.src, map_location='cpu', weights_only=False)
    else:
        checkpoint = torch_load_trusting_mmengine(args.src, 'cpu')
    state_dict = convert_official_multimae(checkpoint, args.encoder_only)
    print(f'Converted {len(state_dict)} tensors')
    if args.config:
        print(key_report(load_into_config_model(state_dict, args.config,
                                                args.encoder_only)))
    save_converted(state_dict, args.dst, args.src, 'multimae2mmmultimae')
    print(f'Saved to {args.dst}')


if __name__ == '__main__':
    main()
