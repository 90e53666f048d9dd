# Linear probing of the MultiMAE ViT-B/16 on ImageNet-1K with MAE's recipe
# (not in the paper; the authors' numbers with MAE's code are in the
# official issue #1: 60.3 top-1 for MultiMAE, 1600 epochs): the encoder
# frozen (eval mode, no drop path), the mean of all its tokens normalised
# by a BatchNorm without affine parameters, a linear classifier
# (trunc-normal 0.01) trained with LARS, 8 GPUs x 2048 = 16384, 90 epochs;
# MAE's augmentation (RandomResizedCrop, flip). The global token instead:
# the _global-token config.
_base_ = [
    '../../../_base_/models/multimae_vit-b-p16_linear-cls.py',
    '../../../_base_/datasets/in1k_cls.py',
    '../../../_base_/schedules/lars_coslr-90e_linear-probe.py',
    '../../../_base_/default_runtime.py'
]
model = dict(
    freeze_backbone=True,
    backbone=dict(drop_path_rate=0.),
    head=dict(
        norm_cfg=dict(type='BN1d', affine=False, eps=1e-6),
        init_scale=1.,
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.01),
        loss=dict(_delete_=True, type='mmpretrain.CrossEntropyLoss')),
    train_cfg=None)
train_pipeline = [
    {{_base_.load}},
    dict(
        type='mmpretrain.RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='mmpretrain.RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.PackInputs'),
]
train_dataloader = dict(
    batch_size=2048, dataset=dict(pipeline=train_pipeline))
