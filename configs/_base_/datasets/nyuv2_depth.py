# NYUv2 depth (supplementary B.3) in the layout of
# tools/dataset_converters/nyuv2.py: depth in millimetres (uint16, in-painted
# where the sensor had no reading), mask_valid (optional) = measured pixels.
# Training: 640 x 480 -> 341 x 256, flip, colour jitter (0.1255, 0.4, 0.5,
# 0.2, p=0.5) and grey (p=0.3) on rgb, random 256 crop. Test: the same
# resize and the 256 centre crop, on all 654 test images (official scored
# the first 100: its max_val_images default).
dataset_type = 'NYUv2Dataset'
data_root = 'data/nyuv2'
load = dict(
    type='LoadMultiModalImages',
    modalities=('rgb', 'depth'),
    optional_modalities=('mask_valid', ),
    depth_scale=1e-3)
resize = dict(type='MultiModalResize', scale=(10000, 256))
pack = dict(type='PackMultiModalSegInputs', inputs=('rgb', ),
            depth_target='depth')
train_pipeline = [
    load,
    resize,
    dict(type='MultiModalRandomFlip', prob=0.5),
    dict(type='MultiModalColorJitter', brightness=0.1255, contrast=0.4,
         saturation=0.5, hue=0.2, prob=0.5),
    dict(type='MultiModalRandomGrayscale', prob=0.3),
    dict(type='MultiModalRandomCrop', size=256),
    pack,
]
test_pipeline = [
    load,
    resize,
    dict(type='MultiModalRandomCrop', size=256, center=True),
    pack,
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        modalities=('rgb', 'depth'),
        optional_modalities=('mask_valid', ),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        modalities=('rgb', 'depth'),
        optional_modalities=('mask_valid', ),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# metres; per image (mmseg's averaging). protocol='per_batch' (with the
# val batch size) reproduces official numbers.
test_evaluator = dict(
    type='PerTestModeMetric',
    metric=dict(type='MaskedDepthMetric', protocol='per_image'))
# validation also reports the berHu loss (loss_berhu/whole), the official
# checkpoint selection (the schedule's save_best chooses delta1 or it); in
# metres it is the official loss on standardised depth times a constant
val_evaluator = [
    test_evaluator,
    dict(
        type='PerTestModeMetric',
        metric=dict(type='RegressionLossMetric', loss='berhu'))
]
