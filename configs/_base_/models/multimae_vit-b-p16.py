# MultiMAE ViT-B/16 pre-training model (paper Table 1 / official
# ``multimae-b_98_rgb+-depth-semseg``): rgb, depth and semseg inputs at 224,
# one global token, 98 of the 3 x 196 tokens visible (Dirichlet alpha = 1),
# four 256-d x 2-block cross-attention decoders (rgb, norm_rgb = "rgb+",
# depth, semseg), masked losses with equal weights, semseg decoder in fp32
# under fp16 autocast (bf16, the default, needs no such guard).
model = dict(
    type='MultiMAE',
    data_preprocessor=dict(
        type='MultiModalDataPreprocessor',
        # ImageNet mean/std in [0, 255] units (uint8 rgb inputs)
        rgb=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
        # per-image robust standardisation (official standardize_depth)
        depth=dict(standardize=True, trim=0.1),
        semseg=dict(num_classes=133)),  # COCO panoptic classes
    encoder=dict(
        type='MultiViT',
        adapters=dict(
            rgb=dict(
                type='PatchInputAdapter',
                in_channels=3,
                patch_size=16,
                image_size=224),
            depth=dict(
                type='PatchInputAdapter',
                in_channels=1,
                patch_size=16,
                image_size=224),
            # 1/4-resolution label map, 64-d class embedding, 4x4 patches
            semseg=dict(
                type='SemSegInputAdapter',
                num_classes=133,
                patch_size=16,
                stride_level=4,
                class_embed_dims=64,
                image_size=224)),
        embed_dims=768,
        num_layers=12,
        num_heads=12,
        mlp_ratio=4.,
        qkv_bias=True,
        num_global_tokens=1,
        drop_path_rate=0.),
    decoders=dict(
        rgb=dict(
            type='SpatialDecoder',
            out_channels=3,
            embed_dims=256,
            num_layers=2,
            num_heads=8,
            patch_size=16,
            image_size=224),
        # "rgb+": a second rgb decoder (rgb queries and mask) whose target
        # is every 16x16 patch standardised on its own
        norm_rgb=dict(
            type='SpatialDecoder',
            out_channels=3,
            query_modality='rgb',
            embed_dims=256,
            num_layers=2,
            num_heads=8,
            patch_size=16,
            image_size=224),
        depth=dict(
            type='SpatialDecoder',
            out_channels=1,
            embed_dims=256,
            num_layers=2,
            num_heads=8,
            patch_size=16,
            image_size=224),
        # logits at 1/4 resolution (56x56 for 224 inputs)
        semseg=dict(
            type='SpatialDecoder',
            out_channels=133,
            stride_level=4,
            embed_dims=256,
            num_layers=2,
            num_heads=8,
            patch_size=16,
            image_size=224)),
    losses=dict(
        rgb=dict(type='MaskedMSELoss'),
        norm_rgb=dict(type='MaskedMSELoss', norm_target=True),
        depth=dict(type='MaskedL1Loss'),
        semseg=dict(type='MaskedCrossEntropyLoss')),
    targets=dict(norm_rgb='rgb'),
    mask_sampler=dict(type='DirichletMaskSampler', num_visible=98, alpha=1.0),
    fp32_decoders=['semseg'])
