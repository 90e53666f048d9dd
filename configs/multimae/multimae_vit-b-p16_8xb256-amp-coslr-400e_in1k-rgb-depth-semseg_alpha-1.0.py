# Table 6 (mask sampling), alpha = 1: 400 epochs and, as every model of that
# table, WITHOUT the per-patch standardised rgb decoder ("rgb+", norm_rgb).
_base_ = [
    './multimae_vit-b-p16_8xb256-amp-coslr-400e_in1k-rgb-depth-semseg.py'
]

model = dict(heads=dict(norm_rgb=None), mask_sampler=dict(alpha=1.0))
