# Table 6 (mask sampling): Dirichlet concentration alpha = 0.5, 400 epochs,
# no norm_rgb decoder (see the alpha-1.0 config).
_base_ = [
    './multimae_vit-b-p16_8xb256-amp-coslr-400e_in1k-rgb-depth-semseg'
    '_alpha-1.0.py'
]

model = dict(mask_sampler=dict(alpha=0.5))
