# The MAE (D2) baseline of the IN-1K column of Table 10 (83.3): an MAE
# ViT-B/16 pre-trained for 1600 epochs with a 2-block decoder (not
# released; pre-train it with
# configs/multimae/mae_vit-b-p16-d2_8xb512-amp-coslr-1600e_in1k.py),
# fine-tuned with the same recipe.
_base_ = ['./multimae_vit-b-p16_8xb128-amp-coslr-100e_in1k.py']
model = dict(
    backbone=dict(
        init_cfg=dict(checkpoint='work_dirs/'
                      'mae_vit-b-p16-d2_8xb512-amp-coslr-1600e_in1k/'
                      'epoch_1600.pth')))
