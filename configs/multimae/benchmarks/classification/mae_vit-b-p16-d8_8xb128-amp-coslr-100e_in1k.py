# The MAE (D8, PyTorch) baseline of the IN-1K column of Table 10 (83.3):
# the authors' MAE ViT-B/16 (1600 epochs, official MultiViT-format
# release; timm files load as well), fine-tuned with the same recipe.
_base_ = ['./multimae_vit-b-p16_8xb128-amp-coslr-100e_in1k.py']
model = dict(
    backbone=dict(
        init_cfg=dict(checkpoint='checkpoints/'
                      'mae-b_dec512d8b_1600e_multivit-c477195b.pth')))
