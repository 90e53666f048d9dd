# The MAE baseline of the NYUv2 depth column (Table 10: D8 85.1, D2 83.7).
_base_ = ['./multimae_vit-b-p16_dpt_2xb64-2000e_nyuv2-256x256-rgb.py']
model = dict(
    backbone=dict(
        init_cfg=dict(checkpoint='checkpoints/'
                      'mae-b_dec512d8b_1600e_multivit-c477195b.pth')))
