# The Segmenter-Mask head of supplementary Table 3 on the MultiMAE ViT-B/16
# segmentor (official ``SegmenterMaskTransformerAdapter``: 2 transformer
# layers over the patch tokens and one learned token per class, computed
# by mmseg's head with LayerNorm eps 1e-6); only ``decode_head`` differs
# from the ConvNeXt model.
_base_ = ['./multimae_vit-b-p16_convnext-semseg.py']
model = dict(
    decode_head=dict(
        _delete_=True,
        type='SegmenterMaskTransformerHead',
        in_channels=768,
        channels=768,
        num_classes=150,
        num_layers=2,
        num_heads=12,
        embed_dims=768,
        mlp_ratio=4,
        drop_path_rate=0.1,
        drop_rate=0.,
        attn_drop_rate=0.,
        norm_cfg=dict(type='LN', eps=1e-6),
        dropout_ratio=0.,
        in_index=-1,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, avg_non_ignore=True)))
