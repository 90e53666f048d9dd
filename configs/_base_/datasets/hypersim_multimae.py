# Hypersim semantic segmentation (v1 scene split: train / val / test; 40 NYU40
# classes after ``reduce_zero_label``) in the layout of
# ``tools/dataset_converters/hypersim.py``: root/<split>/{rgb,depth,semseg,
# mask_valid}/<stem>.png, depth in millimetres (uint16), mask_valid 255 =
# valid depth. Inputs: rgb and depth (a config picks the ones its model
# has adapters for). Training as official (supplementary B.2 / Table 4):
# flip, LSJ to 512 x [0.1, 2.0], colour jitter on rgb, pad (rgb 128, depth
# invalid, labels 255), random 512 crop.
dataset_type = 'HypersimDataset'
data_root = 'data/hypersim'
crop_size = 512
num_classes = 40
inputs = ('rgb', 'depth')
load = dict(
    type='LoadMultiModalImages',
    modalities=('rgb', 'depth', 'semseg'),
    optional_modalities=('mask_valid', ),
    depth_scale=1e-3)
adapt_labels = dict(
    type='AdaptSegLabels', num_classes=num_classes, reduce_zero_label=True)
train_pipeline = [
    load,
    adapt_labels,
    dict(type='MultiModalRandomFlip', prob=0.5),
    dict(type='MultiModalRandomResize', scale=crop_size,
         ratio_range=(0.1, 2.0)),
    dict(type='MultiModalColorJitter', brightness=0.4, contrast=0.4,
         saturation=0.2, hue=0.1, prob=0.5),
    dict(type='MultiModalPad', size=crop_size),
    dict(type='MultiModalRandomCrop', size=crop_size),
    dict(type='PackMultiModalSegInputs', inputs=inputs, seg_target='semseg'),
]
test_pipeline = [
    load,
    adapt_labels,
    dict(type='PackMultiModalSegInputs', inputs=inputs, seg_target='semseg'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        optional_modalities=('mask_valid', ),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        optional_modalities=('mask_valid', ),
        pipeline=test_pipeline))
# the best checkpoint on val, then test (official test_data_path)
test_dataloader = dict(
    val_dataloader, dataset=dict(val_dataloader['dataset'], split='test'))
val_evaluator = dict(
    type='PerTestModeMetric', metric=dict(type='IoUMetric',
                                          iou_metrics=['mIoU']))
test_evaluator = val_evaluator
