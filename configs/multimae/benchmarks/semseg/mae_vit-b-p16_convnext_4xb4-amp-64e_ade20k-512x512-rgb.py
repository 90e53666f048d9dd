# The MAE baseline of the ADE20K column: the authors' MAE ViT-B/16 (1600
# epochs, official MultiViT-format release; timm files load as well).
_base_ = ['./multimae_vit-b-p16_convnext_4xb4-amp-64e_ade20k-512x512-rgb.py']
model = dict(
    backbone=dict(
        init_cfg=dict(checkpoint='checkpoints/'
                      'mae-b_dec512d8b_1600e_multivit-c477195b.pth')))
