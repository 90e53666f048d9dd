# MultiMAE ViT-B/16 image classifier (supplementary B.1; official
# run_finetuning_cls.py): the pre-trained encoder (MultiViT, rgb adapter at
# 224, drop path 0.1, the global token kept as in pre-training) encodes
# every token; the official head pools them (mean over all tokens, the
# global token included), normalises (LayerNorm, eps 1e-6) and classifies
# (linear, initial weights x 0.001). Label smoothing 0.1 on the Mixup
# (alpha 0.8) / CutMix (alpha 1.0) targets, one of the two per batch as
# timm's switch_prob 0.5.
#
# mmpretrain modules are named with their scope (``mmpretrain.X``); the
# data preprocessor is built under mmpretrain's scope so that its batch
# augments resolve by their plain names (see mmmultimae/registry.py).
model = dict(
    type='MultiViTClassifier',
    data_preprocessor=dict(
        type='mmpretrain.ClsDataPreprocessor',
        _scope_='mmpretrain',
        num_classes=1000,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),  # images are loaded BGR
    backbone=dict(
        type='MultiViT',
        adapters=dict(
            rgb=dict(
                type='PatchInputAdapter',
                in_channels=3,
                patch_size=16,
                image_size=224)),
        embed_dims=768,
        num_layers=12,
        num_heads=12,
        mlp_ratio=4.,
        qkv_bias=True,
        num_global_tokens=1,
        drop_path_rate=0.1,
        # the official 1600-epoch MultiMAE (MultiViT format, decoders are
        # dropped; the loader also reads our checkpoints, MAE and timm ViTs)
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/'
            'multimae-b_98_rgb+-depth-semseg_1600e_multivit-afff3f8c.pth')),
    head=dict(
        type='MultiViTClsHead',
        num_classes=1000,
        in_channels=768,
        pool='mean',
        init_scale=0.001,
        loss=dict(
            type='mmpretrain.LabelSmoothLoss',
            label_smooth_val=0.1,
            mode='original')),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))
