# Synthetic scenes (tools/dataset_converters/make_synthetic_scenes.py,
# written by tools/run_demo.sh) as a semantic segmentation dataset: 10 pixel
# classes (floor, wall, ..., painting), rgb and depth inputs (a config's
# model reads the ones it has adapters for), 96 x 96 renders. A small
# labelled set (256 of the training scenes) as in a transfer, the 64
# held-out scenes for validation. Training: flip, scale jittering of the
# longest side to 64 x [0.5, 2.0], colour jitter on rgb, pad, random 64
# crop (Table 4's recipe at 64 px).
dataset_type = 'SyntheticScenesSegDataset'
data_root = 'data/synthetic_scenes'
crop_size = 64
inputs = ('rgb', 'depth')
load = dict(
    type='LoadMultiModalImages',
    modalities=('rgb', 'depth', 'semseg'),
    depth_scale=128 / 2**16)
train_pipeline = [
    load,
    dict(type='MultiModalRandomFlip', prob=0.5),
    dict(type='MultiModalRandomResize', scale=crop_size,
         ratio_range=(0.5, 2.0)),
    dict(type='MultiModalColorJitter', brightness=0.4, contrast=0.4,
         saturation=0.2, hue=0.1, prob=0.5),
    dict(type='MultiModalPad', size=crop_size),
    dict(type='MultiModalRandomCrop', size=crop_size),
    dict(type='PackMultiModalSegInputs', inputs=inputs, seg_target='semseg'),
]
test_pipeline = [
    load,
    dict(type='PackMultiModalSegInputs', inputs=inputs, seg_target='semseg'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='train'),
        modalities=('rgb', 'depth', 'semseg'),
        max_images=256,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='val'),
        modalities=('rgb', 'depth', 'semseg'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='PerTestModeMetric', metric=dict(type='IoUMetric',
                                          iou_metrics=['mIoU']))
test_evaluator = val_evaluator
