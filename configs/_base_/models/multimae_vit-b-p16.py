# MultiMAE ViT-B/16 pre-training model (paper Table 1 / official
# ``multimae-b_98_rgb+-depth-semseg``): rgb, depth and semseg inputs at 224,
# one global token, 98 of the 3 x 196 tokens visible (Dirichlet alpha = 1),
# four 256-d x 2-block cross-attention decoders (rgb, norm_rgb = "rgb+",
# depth, semseg), masked losses with equal weights, semseg decoder in fp32
# under fp16 autocast (bf16, the default, needs no such guard).
patch = dict(patch_size=16, image_size=224)
# every head's decoder; a head adds its number of output channels
decoder = dict(type='SpatialDecoder', embed_dims=256, num_layers=2,
               num_heads=8, **patch)
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
            rgb=dict(type='PatchInputAdapter', in_channels=3, **patch),
            depth=dict(type='PatchInputAdapter', in_channels=1, **patch),
            # 1/4-resolution label map, 64-d class embedding, 4x4 patches
            semseg=dict(
                type='SemSegInputAdapter',
                num_classes=133,
                stride_level=4,
                class_embed_dims=64,
                **patch)),
        embed_dims=768,
        num_layers=12,
        num_heads=12,
        mlp_ratio=4.,
        qkv_bias=True,
        num_global_tokens=1,
        drop_path_rate=0.),
    heads=dict(
        rgb=dict(
            type='PixelReconstructionHead',
            decoder=dict(out_channels=3, **decoder),
            loss=dict(type='MaskedMSELoss')),
        # "rgb+": a second rgb decoder (rgb queries and mask) whose target
        # is every 16x16 patch standardised on its own
        norm_rgb=dict(
            type='PixelReconstructionHead',
            target='rgb',
            norm_target=True,
            decoder=dict(out_channels=3, **decoder),
            loss=dict(type='MaskedMSELoss')),
        depth=dict(
            type='PixelReconstructionHead',
            decoder=dict(out_channels=1, **decoder),
            loss=dict(type='MaskedL1Loss')),
        # logits at 1/4 resolution (56x56 for 224 inputs)
        semseg=dict(
            type='SemSegReconstructionHead',
            fp32_under_fp16=True,
            decoder=dict(out_channels=133, stride_level=4, **decoder),
            loss=dict(type='MaskedCrossEntropyLoss'))),
    mask_sampler=dict(type='DirichletMaskSampler', num_visible=98, alpha=1.0))
