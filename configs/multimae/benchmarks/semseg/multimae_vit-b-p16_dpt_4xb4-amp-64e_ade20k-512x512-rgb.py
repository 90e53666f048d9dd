# The DPT head for semantic segmentation (official
# ``DPTOutputAdapter(head_type='semseg')``): reassembles the maps of blocks
# 3, 6, 9, 12 and fuses them to 1/2 resolution.
_base_ = ['./multimae_vit-b-p16_convnext_4xb4-amp-64e_ade20k-512x512-rgb.py']
model = dict(
    decode_head=dict(
        _delete_=True,
        type='DPTSemSegHead',
        in_channels=768,
        channels=256,
        post_process_channels=(96, 192, 384, 768),
        in_index=(0, 1, 2, 3),
        num_classes=150,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, avg_non_ignore=True)))
