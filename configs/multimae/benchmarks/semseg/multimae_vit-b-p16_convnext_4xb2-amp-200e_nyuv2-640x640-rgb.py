# MultiMAE ViT-B/16 + ConvNeXt on NYUv2 from rgb (supplementary Tables 3
# and 4; main paper Table 2, NYUv2 rgb row): 8 per batch, 200 epochs,
# 640 x 640, 40 classes, evaluated every 20 epochs (official eval_freq).
_base_ = [
    '../../../_base_/models/multimae_vit-b-p16_convnext-semseg.py',
    '../../../_base_/datasets/nyuv2_multimae.py',
    '../../../_base_/schedules/adamw_layer-decay_semseg.py',
    '../../../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(adapters=dict(rgb=dict(image_size=640))),
    decode_head=dict(num_classes=40),
    test_cfg=dict(size=640, crop_size=(640, 640), stride=(427, 427)))
train_cfg = dict(max_epochs=200, val_interval=20)
