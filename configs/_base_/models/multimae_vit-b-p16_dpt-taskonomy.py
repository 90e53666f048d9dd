# MultiMAE ViT-B/16 dense regression model for the Taskonomy tasks
# (supplementary B.4 and Table 5): the NYUv2 depth model's DPT regression
# head on the maps of blocks 3, 6, 9, 12, here at 384 x 384 with drop path
# 0.1 and the masked L1 loss (official masked_l1_loss: one mean over the
# valid pixels x channels of the batch), predictions not clamped. A task
# config sets the head's output channels (decode_head.num_classes).
_base_ = ['./multimae_vit-b-p16_dpt-depth.py']
model = dict(
    min_depth=None,
    max_depth=None,
    backbone=dict(
        adapters=dict(rgb=dict(image_size=384)), drop_path_rate=0.1),
    decode_head=dict(loss_decode=dict(type='PixelL1Loss')),
    # the whole 384 x 384 image, as official
    test_cfg=dict(mode='whole'))
