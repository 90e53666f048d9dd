# MAE baseline with a decoder as small as MultiMAE's (Tables 10/11:
# "MAE (D2)"): 256-d x 2 blocks x 8 heads; otherwise the D8 setting.
_base_ = ['./mae_vit-b-p16-d8_8xb512-amp-coslr-1600e_in1k.py']

model = dict(
    heads=dict(
        rgb=dict(decoder=dict(embed_dims=256, num_layers=2, num_heads=8))))
