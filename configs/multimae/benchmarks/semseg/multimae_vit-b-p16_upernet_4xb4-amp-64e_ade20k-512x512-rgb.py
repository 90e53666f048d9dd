# UPerNet on the four maps of blocks 3, 6, 9, 12 rescaled to strides 4-32
# (mmseg's Feature2Pyramid inside ``ViTUPerHead``), with mmseg's auxiliary
# FCN head on the block-9 map (weight 0.4); BN, not SyncBN, so it also runs
# on one process (tools/train.py); use SyncBN with dist_train.sh if wanted.
_base_ = ['./multimae_vit-b-p16_convnext_4xb4-amp-64e_ade20k-512x512-rgb.py']
model = dict(
    decode_head=dict(
        _delete_=True,
        type='ViTUPerHead',
        in_channels=768,
        channels=512,
        in_index=(0, 1, 2, 3),
        pool_scales=(1, 2, 3, 6),
        dropout_ratio=0.1,
        num_classes=150,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, avg_non_ignore=True)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=768,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            avg_non_ignore=True,
            loss_weight=0.4)))
