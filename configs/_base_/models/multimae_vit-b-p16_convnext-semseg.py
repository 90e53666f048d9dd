# MultiMAE ViT-B/16 semantic segmentation model (supplementary B.2): the
# pre-trained encoder (``MultiViT``, drop path 0.1, the global token kept
# as in pre-training) on rgb at 512, the ConvNeXt head (linear to 6144 =
# 384 x 16 per token, 4 ConvNeXt blocks at 1/4 resolution, bilinear to full
# resolution), cross-entropy ignoring 255.
#
# The backbone returns the maps of blocks 3, 6, 9, 12 (the DPT hooks), so
# every head of Table 3 (ConvNeXt and Segmenter read the last one, UPerNet
# and DPT all four) is swapped by changing ``decode_head`` alone. Inputs of
# another modality set: change ``backbone.adapters`` (the data pipeline
# sets which modalities are loaded); the head reads the tokens of
# ``backbone.out_modalities`` (several: concatenated, in_channels 768 x k).
patch = dict(patch_size=16, image_size=512)
model = dict(
    type='MultiModalEncoderDecoder',
    data_preprocessor=dict(
        type='MultiModalDataPreprocessor',
        rgb=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
        # per-image standardisation by the 10%-trimmed statistics of the
        # valid pixels of the whole image (padding excluded), as official
        depth=dict(standardize=True),
        size_divisor=16),
    backbone=dict(
        type='MultiViT',
        adapters=dict(
            rgb=dict(type='PatchInputAdapter', in_channels=3, **patch)),
        embed_dims=768,
        num_layers=12,
        num_heads=12,
        mlp_ratio=4.,
        qkv_bias=True,
        num_global_tokens=1,
        drop_path_rate=0.1,
        out_indices=[2, 5, 8, 11],
        out_modalities=['rgb'],
        # the official 1600-epoch MultiMAE (MultiViT format, decoders are
        # dropped; the loader also reads our checkpoints, MAE and timm ViTs)
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/'
            'multimae-b_98_rgb+-depth-semseg_1600e_multivit-afff3f8c.pth')),
    decode_head=dict(
        type='ConvNeXtHead',
        in_channels=768,
        channels=384,
        preds_per_patch=16,
        num_blocks=4,
        in_index=-1,
        num_classes=150,
        align_corners=False,
        # official: mean over the non-ignored pixels
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, avg_non_ignore=True)),
    # the paper's evaluator and mmseg's sliding window, reported side by
    # side (mIoU/resize_pad, mIoU/slide); the first one fills pred_sem_seg
    test_cfg=dict(
        mode=['resize_pad', 'slide'],
        size=512,
        crop_size=(512, 512),
        stride=(341, 341)))
