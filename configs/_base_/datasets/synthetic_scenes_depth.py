# Synthetic scenes (written by tools/run_demo.sh) for depth from rgb: the
# renderer's metric z-buffer depth (every pixel valid), 256 labelled
# training scenes, the 64 held-out scenes for testing. Training as NYUv2
# depth (supplementary B.3) at 64 px: flip, colour jitter (0.1255, 0.4,
# 0.5, 0.2, p=0.5) and grey (p=0.3) on rgb, random 64 crop of the 96 x 96
# renders; test: the whole 96 x 96 image.
dataset_type = 'SyntheticScenesSegDataset'
data_root = 'data/synthetic_scenes'
load = dict(
    type='LoadMultiModalImages',
    modalities=('rgb', 'depth'),
    depth_scale=128 / 2**16)
pack = dict(type='PackMultiModalSegInputs', inputs=('rgb', ),
            depth_target='depth')
train_pipeline = [
    load,
    dict(type='MultiModalRandomFlip', prob=0.5),
    dict(type='MultiModalColorJitter', brightness=0.1255, contrast=0.4,
         saturation=0.5, hue=0.2, prob=0.5),
    dict(type='MultiModalRandomGrayscale', prob=0.3),
    dict(type='MultiModalRandomCrop', size=64),
    pack,
]
test_pipeline = [load, pack]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='train'),
        modalities=('rgb', 'depth'),
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
        modalities=('rgb', 'depth'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='PerTestModeMetric', metric=dict(type='MaskedDepthMetric'))
test_evaluator = val_evaluator
