# MultiMAE ViT-B/16 depth estimation model (supplementary B.3): the
# pre-trained encoder on rgb at 256 (no drop path, Table 5), the DPT
# regression head on the maps of blocks 3, 6, 9, 12, the berHu loss over
# valid pixels (official ``masked_berhu_loss``), predictions clamped to
# [1 mm, 10 m] before the metrics.
model = dict(
    type='MultiModalDepthEstimator',
    min_depth=1e-3,
    max_depth=10.,
    data_preprocessor=dict(
        type='MultiModalDataPreprocessor',
        rgb=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
        size_divisor=16),
    backbone=dict(
        type='MultiViT',
        adapters=dict(
            rgb=dict(
                type='PatchInputAdapter',
                in_channels=3,
                patch_size=16,
                image_size=256)),
        embed_dims=768,
        num_layers=12,
        num_heads=12,
        mlp_ratio=4.,
        qkv_bias=True,
        num_global_tokens=1,
        drop_path_rate=0.,
        out_indices=[2, 5, 8, 11],
        out_modalities=['rgb'],
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/'
            'multimae-b_98_rgb+-depth-semseg_1600e_multivit-afff3f8c.pth')),
    decode_head=dict(
        type='DPTRegressionHead',
        in_channels=768,
        channels=256,
        post_process_channels=(96, 192, 384, 768),
        in_index=(0, 1, 2, 3),
        num_classes=1,
        align_corners=False,
        loss_decode=dict(type='BerHuLoss')),
    # the test pipeline already takes the 256 centre crop
    test_cfg=dict(mode='whole'))
