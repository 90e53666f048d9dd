# A plain mmseg EncoderDecoder, tiny (ResNet-18 of 8 base channels, FCN
# head): the pseudo-labelling tests run "any mmseg segmentor" with it. 300
# classes: its labels need the 16-bit PNG encoding.
default_scope = 'mmseg'
num_classes = 300
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size_divisor=32),
    backbone=dict(
        type='ResNetV1c',
        depth=18,
        stem_channels=8,
        base_channels=8,
        out_indices=(3, ),
        norm_cfg=dict(type='BN', requires_grad=True)),
    decode_head=dict(
        type='FCNHead',
        in_channels=64,
        in_index=0,
        channels=16,
        num_convs=1,
        concat_input=False,
        num_classes=num_classes,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
# mmseg's ADE20K test pipeline, small: keep-ratio resize, then the
# prediction is resized back to the image (postprocess_result)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 64), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
