# ADE20K (mmseg's ``ADEChallengeData2016`` layout and dataset), rgb input,
# 150 classes after ``reduce_zero_label`` (0 = "other" -> 255, ignored).
# Training (supplementary B.2, official ``simple_transform``): flip,
# large-scale jittering (longest side to 512, random scale x[0.1, 2.0]),
# colour jitter (0.4, 0.4, 0.2, 0.1, p=0.5) on rgb, pad to 512 (rgb 128,
# labels 255), random 512 crop. Evaluation: the full image; the model
# resizes it (test_cfg ``resize_pad``) or slides windows over it.
dataset_type = 'ADE20KDataset'
data_root = 'data/ade/ADEChallengeData2016'
crop_size = 512
num_classes = 150
train_pipeline = [
    dict(type='LoadMultiModalImages', modalities=('rgb', 'semseg')),
    dict(type='AdaptSegLabels', num_classes=num_classes,
         reduce_zero_label=True),
    dict(type='MultiModalRandomFlip', prob=0.5),
    dict(type='MultiModalRandomResize', scale=crop_size,
         ratio_range=(0.1, 2.0)),
    dict(type='MultiModalColorJitter', brightness=0.4, contrast=0.4,
         saturation=0.2, hue=0.1, prob=0.5),
    dict(type='MultiModalPad', size=crop_size),
    dict(type='MultiModalRandomCrop', size=crop_size),
    dict(type='PackMultiModalSegInputs', inputs=('rgb', ),
         seg_target='semseg'),
]
test_pipeline = [
    dict(type='LoadMultiModalImages', modalities=('rgb', 'semseg')),
    dict(type='AdaptSegLabels', num_classes=num_classes,
         reduce_zero_label=True),
    dict(type='PackMultiModalSegInputs', inputs=('rgb', ),
         seg_target='semseg'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path='images/validation',
            seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# one mIoU per test mode of the model: mIoU/resize_pad, mIoU/slide, ...
val_evaluator = dict(
    type='PerTestModeMetric', metric=dict(type='IoUMetric',
                                          iou_metrics=['mIoU']))
test_evaluator = val_evaluator
