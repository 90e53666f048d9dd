# Hypersim semantic segmentation from depth alone (ground-truth depth,
# standardised per image on its valid pixels): the depth adapter of the
# pre-trained checkpoint replaces the rgb one, the head reads depth tokens.
_base_ = ['./multimae_vit-b-p16_convnext_4xb4-amp-25e_hypersim-512x512-rgb.py']
model = dict(
    backbone=dict(
        adapters=dict(
            _delete_=True,
            depth=dict(
                type='PatchInputAdapter',
                in_channels=1,
                patch_size=16,
                image_size=512)),
        out_modalities=['depth']))
