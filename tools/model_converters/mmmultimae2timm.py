# Copyright (c) mmmultimae contributors. All rights reserved.
"""Export the encoder of an mmmultimae checkpoint as a timm ViT state dict.

The export loads into ``timm.create_model('vit_base_patch16_224',
num_classes=0)`` (for a ViT-B/16 encoder); timm's final ``norm`` has no
counterpart in MultiViT, so it is reported missing: build timm with
``final_norm=False`` (or replace ``norm`` by ``nn.Identity``) to get the same
features as MultiViT.

Example:
    python tools/model_converters/mmmultimae2timm.py \
        work_dirs/pretrain/epoch_1600.pth vit_b16_multimae.pth \
        --timm-model vit_base_patch16_224
"""
import argparse

import timm
import torch
from timm.models.vision_transformer import VisionTransformer

from mmmultimae.apis import key_report
from mmmultimae.models.converters import multivit_to_timm
from mmmultimae.utils import torch_load_trusting_mmengine


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a MultiViT/MultiMAE checkpoint to timm ViT keys')
    parser.add_argument('src', help='mmmultimae checkpoint')
    parser.add_argument('dst', help='output timm state dict')
    parser.add_argument(
        '--modality',
        default='rgb',
        help='patch adapter exported as patch_embed (default: rgb)')
    parser.add_argument(
        '--timm-model',
        help='report missing/unexpected keys against this timm model '
        '(built with pretrained=False, num_classes=0); default: a timm '
        'VisionTransformer with the shapes of the export')
    return parser.parse_args()


def reference_vit(state_dict: dict) -> torch.nn.Module:
    """A meta-device timm ViT with the shapes of an exported state dict."""
    proj = state_dict['patch_embed.proj.weight']
    dims, in_chans, patch = proj.shape[0], proj.shape[1], proj.shape[2]
    num_pos = state_dict['pos_embed'].shape[1] - 1
    depth = len(
        {k.split('.')[1]
         for k in state_dict if k.startswith('blocks.')})
    hidden = state_dict['blocks.0.mlp.fc1.weight'].shape[0]
    return VisionTransformer(
        img_size=(patch, patch * num_pos),
        patch_size=patch,
        in_chans=in_chans,
        num_classes=0,
        embed_dim=dims,
        depth=depth,
        num_heads=1,
        mlp_ratio=hidden / dims,
        device='meta')


def main() -> None:
    args = parse_args()
    checkpoint = torch_load_trusting_mmengine(args.src, 'cpu')
    state_dict = multivit_to_timm(checkpoint, args.modality)
    print(f'Exported {len(state_dict)} tensors')
    if args.timm_model:
        model = timm.create_model(
            args.timm_model, pretrained=False, num_classes=0)
    else:
        model = reference_vit(state_dict)
    print(
        key_report(
            model.load_state_dict(state_dict, strict=False, assign=True)))
    torch.save(state_dict, args.dst)
    print(f'Saved to {args.dst}')


if __name__ == '__main__':
    main()
