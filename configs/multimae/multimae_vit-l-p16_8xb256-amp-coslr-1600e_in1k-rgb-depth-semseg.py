# MultiMAE ViT-L/16 (official pretrain_multimae_large: 1024-d, 24 blocks,
# 16 heads), default setting otherwise (decoders 256-d x 2, 98 visible).
_base_ = [
    './multimae_vit-b-p16_8xb256-amp-coslr-1600e_in1k-rgb-depth-semseg.py'
]

model = dict(encoder=dict(embed_dims=1024, num_layers=24, num_heads=16))
