# Hypersim semantic segmentation from rgb + depth: both adapters, the head
# reads the rgb tokens, which attend to the depth tokens (supplementary
# B.2: as good as concatenating both, and cheaper; for the concatenated
# readout set out_modalities=['rgb', 'depth'] and in_channels=1536).
_base_ = ['./multimae_vit-b-p16_convnext_4xb4-amp-25e_hypersim-512x512-rgb.py']
model = dict(
    backbone=dict(
        adapters=dict(
            depth=dict(
                type='PatchInputAdapter',
                in_channels=1,
                patch_size=16,
                image_size=512))))
