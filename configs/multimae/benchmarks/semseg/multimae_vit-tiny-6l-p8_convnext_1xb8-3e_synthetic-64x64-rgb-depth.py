# The demo's segmentation transfer from rgb + depth: the pre-trained depth
# adapter joins the rgb one; the head reads the rgb tokens.
_base_ = ['./multimae_vit-tiny-6l-p8_convnext_1xb8-3e_synthetic-64x64-rgb.py']
model = dict(
    backbone=dict(
        adapters=dict(
            depth=dict(
                type='PatchInputAdapter',
                in_channels=1,
                patch_size=8,
                image_size=64))))
