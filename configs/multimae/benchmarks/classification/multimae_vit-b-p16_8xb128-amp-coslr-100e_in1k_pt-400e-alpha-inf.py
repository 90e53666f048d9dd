# Table 6 of the supplementary, IN-1K column (82.9 top-1): the MultiMAE
# pre-trained for 400 epochs with Dirichlet alpha = inf (equal shares) and
# no norm_rgb decoder (pre-train it with configs/multimae/
# multimae_vit-b-p16_8xb256-amp-coslr-400e_in1k-rgb-depth-semseg_alpha-inf.py),
# fine-tuned with the recipe of Table 2.
_base_ = ['./multimae_vit-b-p16_8xb128-amp-coslr-100e_in1k.py']
model = dict(
    backbone=dict(
        init_cfg=dict(checkpoint='work_dirs/'
                      'multimae_vit-b-p16_8xb256-amp-coslr-400e_in1k-'
                      'rgb-depth-semseg_alpha-inf/epoch_400.pth')))
